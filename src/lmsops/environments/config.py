"""env/<name>.yaml: one environment, fully declared; validated before anything is touched.

Every problem of an environment is reported at once, each naming the file, the key, what is
wrong and what to do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.yamlfile import format_validation_error, read_yaml
from lmsops.environments.schema import Schema, Value, as_text, check_value, load_schema
from lmsops.images.versions import Strict

StackName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,40}$")]
Memory = Annotated[str, StringConstraints(pattern=r"^[0-9]+[KMG]?$")]
Duration = Annotated[str, StringConstraints(pattern=r"^[0-9]+(ms|s|m)$")]
# Variables lmsops sets itself; an environment file may not.
RESERVED = re.compile(r"^LMS_(ENV|SECRETS_DIR|GATEWAY_ROUTES|ENDPOINT_MODE|PUBLISH_MODE|[A-Z0-9_]+_IMAGE)$")
SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|API_?KEY", re.I)


_ENV_REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


def _expand(match: re.Match[str]) -> str:
    name, default = match.group(1), match.group(2)
    value = os.environ.get(name, "")
    if value:
        return value
    if default is None:
        raise ValueError(f"${{{name}}} is not set in the environment; export it, or write ${{{name}:-}} for a default")
    return default


class Target(Strict):
    kind: Literal["compose", "swarm"]
    name: StackName = Field(description="Compose project or Swarm stack name")
    context: str | None = Field(default=None, description="Docker context; default: the local engine")
    host: str | None = Field(default=None, description="DOCKER_HOST, e.g. ssh://deploy@manager")
    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    publish_mode: Literal["ingress", "host"] = "ingress"
    confirm: bool = Field(default=False, description="deploy only with --yes, from a clean git tree")
    registry: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._/-]+)?$")] | None = (
        Field(default=None, description="HOST:PORT the environment deploys from, by digest (`nox -s publish`)")
    )

    @field_validator("context", "host", "registry", mode="before")
    @classmethod
    def _from_the_environment(cls, value: object) -> object:
        """`${NAME}` / `${NAME:-default}` from the operator's (or CI's) environment: where an environment
        runs is often a secret of the pipeline, not a line of the repository. Empty: the local engine."""
        if not isinstance(value, str):
            return value
        expanded = _ENV_REFERENCE.sub(_expand, value)
        return expanded or None

    @model_validator(mode="after")
    def _one_address(self) -> Target:
        if self.context and self.host:
            raise ValueError("give either context or host, not both")
        return self


class Resources(Strict):
    cpus: float | None = Field(default=None, gt=0)
    memory: Memory | None = None
    reserve_cpus: float | None = Field(default=None, gt=0)
    reserve_memory: Memory | None = None
    pids: int | None = Field(default=None, gt=0)


class Deploy(Strict):
    """Swarm settings; keys of replicas and resources are service names, or 'default'."""

    replicas: dict[str, Annotated[int, Field(ge=0, le=100)]] = Field(default_factory=dict)
    resources: dict[str, Resources] = Field(default_factory=dict)
    monitor: Duration = "20s"
    timeout: int = Field(default=300, ge=10, le=3600, description="seconds to wait for convergence")


class SecretSource(Strict):
    file: str | None = None
    env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of file: PATH or env: VARIABLE")
        return self


class SecretDefault(Strict):
    """Where secrets without their own entry under secrets: come from (so a new service needs no edit)."""

    generate: bool = Field(default=False, description="local Compose only: random files under .lmsops/")
    env_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    dir: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretDefault:
        if sum([self.generate, self.env_prefix is not None, self.dir is not None]) != 1:
            raise ValueError("give exactly one of generate: true, env_prefix: PREFIX_ or dir: PATH")
        return self

    def source_for(self, name: str) -> SecretSource | None:
        if self.env_prefix is not None:
            return SecretSource(env=self.env_prefix + re.sub(r"[^A-Z0-9]", "_", name.upper()))
        if self.dir is not None:
            return SecretSource(file=str(Path(self.dir) / name))
        return None


class Backups(Strict):
    """Where `nox -s backup` keeps an environment's backups (docs/backups.md): a folder on the
    operator's machine (relative to the repository root, or absolute), or a Docker volume on the
    environment's engine. Absent: the folder .lmsops/backups/<env>."""

    folder: Annotated[str, StringConstraints(min_length=1)] | None = None
    volume: str | None = None

    @field_validator("volume")
    @classmethod
    def _volume_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", value):
            raise ValueError(f"{value!r} is not a Docker volume name (letters, digits, '_', '.', '-'); rename it")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Backups:
        if (self.folder is None) == (self.volume is None):
            raise ValueError("give exactly one of folder: PATH (on this machine) or volume: NAME (on the engine)")
        return self


class EnvFile(Strict):
    description: str = ""
    target: Target
    deploy: Deploy = Field(default_factory=Deploy)
    variables: dict[str, Value] = Field(default_factory=dict)
    secret_source: SecretDefault | None = None
    secrets: dict[str, SecretSource] = Field(default_factory=dict)
    source_mounts: bool = Field(default=False, description="Compose only: mount each service's app/ read-only")
    backups: Backups | None = Field(default=None, description="where backups are kept; default .lmsops/backups/<env>")


@dataclass(frozen=True)
class Environment:
    """A validated environment: its file, the schema, and every variable's value as text."""

    name: str
    file: EnvFile
    schema: Schema
    values: dict[str, str]

    @property
    def target(self) -> Target:
        return self.file.target

    @property
    def generates_secrets(self) -> bool:
        default = self.file.secret_source
        return default is not None and default.generate

    def secret_source(self, name: str) -> SecretSource | None:
        """Where a secret's value comes from; None when it is generated locally."""
        if name in self.file.secrets:
            return self.file.secrets[name]
        default = self.file.secret_source
        return default.source_for(name) if default is not None else None


def known_environments(repo: Repo) -> list[str]:
    return sorted(p.stem for p in repo.environments.glob("*.yaml") if p.stem != "schema")


def load_environment(repo: Repo, name: str, services: set[str]) -> Environment:
    """Load and check env/<name>.yaml against the schema; raise one ConfigError listing every problem."""
    known = known_environments(repo)
    if name not in known:
        raise ConfigError(f"unknown environment {name!r}; known: {', '.join(known) or 'none'} (one file each in env/)")
    path = repo.environments / f"{name}.yaml"
    shown = repo.display(path)
    raw = read_yaml(path, shown)
    problems = _plain_secret_values(raw)
    try:
        env_file = EnvFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        detail = format_validation_error(shown, exc).split("\n", 1)[1].splitlines()
        problems += [line.removeprefix("  - ") for line in detail if "secrets." not in line or not problems]
        raise ConfigError(_report(shown, problems)) from exc
    schema = load_schema(repo)
    values, more = _check(env_file, schema, services)
    problems += more
    if problems:
        raise ConfigError(_report(shown, problems))
    return Environment(name, env_file, schema, values)


def _report(shown: str, problems: list[str]) -> str:
    return f"{shown}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems)


def _plain_secret_values(raw: object) -> list[str]:
    """Secret values written into env/ are refused before anything else is looked at."""
    secrets = raw.get("secrets") if isinstance(raw, dict) else None
    if not isinstance(secrets, dict):
        return []
    return [
        f"secrets.{key}: a secret's value may not be written in env/ (it is versioned); "
        "give its source instead: {file: PATH} or {env: VARIABLE}"
        for key, value in secrets.items()
        if not isinstance(value, dict)
    ]


def _check(env_file: EnvFile, schema: Schema, services: set[str]) -> tuple[dict[str, str], list[str]]:
    problems: list[str] = []
    values: dict[str, str] = {}
    for key, value in env_file.variables.items():
        if RESERVED.match(key):
            problems.append(f"variables.{key}: set by lmsops itself; remove it")
        elif key not in schema.variables:
            hint = (
                "it looks like a secret: secret values never live in env/; declare a secret in the schema "
                "and name its source under secrets:"
                if SECRET_LOOKING.search(key)
                else "declare it in env/schema.yaml (or services/<name>/env.schema.yaml) or remove it"
            )
            problems.append(f"variables.{key}: not declared in the schema; {hint}")
        elif (wrong := check_value(key, schema.variables[key], value)) is not None:
            problems.append(f"variables.{key}: {wrong}")
    for key, spec in sorted(schema.variables.items()):
        chosen: Value | None = env_file.variables.get(key, spec.default)
        if chosen is None:
            problems.append(f"variables.{key}: required ({spec.description}); set it")
        else:
            values[key] = as_text(chosen)
    for key in env_file.secrets:
        if key not in schema.secrets:
            problems.append(f"secrets.{key}: not declared in the schema; declare it or remove it")
    if env_file.secret_source is None:
        problems += [
            f"secrets.{key}: no source given ({spec.description}); add {{file: PATH}} or {{env: VARIABLE}}, "
            "or a secret_source for all"
            for key, spec in sorted(schema.secrets.items())
            if key not in env_file.secrets
        ]
    elif env_file.secret_source.generate and env_file.target.kind != "compose":
        problems.append("secret_source.generate: only for local Compose environments; name where secrets come from")
    for section in ("replicas", "resources"):
        entries: dict[str, object] = getattr(env_file.deploy, section)
        problems += [
            f"deploy.{section}.{key}: no service named {key!r} (known: {', '.join(sorted(services))})"
            for key in entries
            if key != "default" and key not in services
        ]
    return values, problems


def secret_value(env: Environment, name: str) -> str:
    """The value of a secret from its source, or a ConfigError saying where it was looked for."""
    source = env.secret_source(name)
    if source is None:
        raise ConfigError(f"env/{env.name}.yaml: secrets.{name}: generated locally, it has no source to read")
    if source.env is not None:
        if source.env not in os.environ:
            raise ConfigError(
                f"env/{env.name}.yaml: secrets.{name}: the environment variable {source.env} is not set; "
                "export it (its value never goes into the repository)"
            )
        return os.environ[source.env]
    path = Path(str(source.file)).expanduser()
    try:
        return path.read_text(encoding="utf-8").rstrip("\n")
    except OSError as exc:
        raise ConfigError(f"env/{env.name}.yaml: secrets.{name}: cannot read {path} ({exc.strerror})") from exc
