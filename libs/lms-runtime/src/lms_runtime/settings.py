"""Service settings: LMS_* environment variables, secrets from files, all validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "LMS_"
# Environments where a secret may come as a plain variable (a developer's laptop, unit tests).
PLAIN_SECRETS_ALLOWED = {"dev", "test"}

S = TypeVar("S", bound="ServiceSettings")


class SettingsError(Exception):
    """The environment does not describe a valid configuration; the message names the variables."""


class ServiceSettings(BaseSettings):
    """What every service reads; each service subclasses it with its own LMS_* variables."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    env: Literal["dev", "staging", "production", "test"]
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    port: int = 8000
    # How long a service keeps serving after SIGTERM, with /readyz at 503 and `Connection: close` on
    # every response, so the gateway (it keeps a DNS answer for 1 s) moves to other replicas first.
    drain_seconds: float = Field(default=3.0, ge=0, allow_inf_nan=False)
    # How long in-flight requests may take to finish after the drain.
    shutdown_timeout: float = 20.0
    # Processes serving requests; unset: one per CPU the container may use (lms_runtime.workers).
    workers: int | None = Field(default=None, ge=1, le=32)


def variable(field: str) -> str:
    return PREFIX + field.upper()


def _secret_fields(cls: type[ServiceSettings]) -> list[str]:
    return [name for name, info in cls.model_fields.items() if "SecretStr" in repr(info.annotation)]


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Build settings from environ; every problem is reported at once, naming its variable."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    from_files: dict[str, str] = {}
    for field in _secret_fields(cls):
        name = variable(field)
        file_var = f"{name}_FILE"
        if file_var in env:
            try:
                from_files[field] = Path(env[file_var]).read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                problems.append(f"{file_var}: cannot read {env[file_var]} ({exc.strerror})")
        elif name in env and env.get(variable("env")) not in PLAIN_SECRETS_ALLOWED:
            problems.append(f"{name}: a secret must come from a file outside dev; set {file_var} instead")
    try:
        settings = _from_mapping(cls, env, from_files)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            message = "required, not set" if error["type"] == "missing" else error["msg"]
            problems.append(f"{variable(field)}: {message}")
        settings = None
    if problems or settings is None:
        raise SettingsError("; ".join(problems))
    return settings


def _from_mapping(cls: type[S], env: Mapping[str, str], from_files: dict[str, str]) -> S:
    # Read exactly LMS_<FIELD> (upper case) from the given mapping, so tests can pass their own.
    values: dict[str, object] = {field: env[variable(field)] for field in cls.model_fields if variable(field) in env}
    values.update(from_files)
    return cls.model_validate(values)


def secret_value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
