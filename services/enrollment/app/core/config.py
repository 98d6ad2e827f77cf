"""The enrollment service's settings: the shared LMS_* contract, its database, the catalog."""

from __future__ import annotations

from lms_runtime import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    database_url: str
    database_password: SecretStr | None = None
    # e.g. http://catalog:8001 (resolved by Docker's DNS on every call, so moved tasks are found)
    catalog_url: str = Field(pattern=r"^https?://")
    catalog_timeout: float = Field(default=2.0, gt=0, le=30)
    catalog_attempts: int = Field(default=3, ge=1, le=10)
