"""The catalog service's settings: the shared LMS_* contract plus its database."""

from __future__ import annotations

from lms_runtime import ServiceSettings
from pydantic import SecretStr


class Settings(ServiceSettings):
    # e.g. postgresql+psycopg://catalog@postgres:5432/catalog; the password comes from a file.
    database_url: str
    database_password: SecretStr | None = None
