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
from lmsops.core.yamlfile import describe_validation_error, did_you_mean, read_yaml
from lmsops.environments.schema import (
    Schema,
    Value,
    as_text,
    check_value,
    load_schema,
    report,
)
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


# A registry address as Docker reads the start of an image reference: a host (with a '.' or a port,
# or localhost: anything else Docker takes for a Docker Hub namespace), then lowercase path parts.
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
_PATH = r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
_REGISTRY = re.compile(rf"(?P<host>{_HOST})(?::(?P<port>[0-9]{{1,5}}))?(?P<path>{_PATH})")
_REGISTRY_FORM = "give HOST[:PORT][/PATH], e.g. 127.0.0.1:5000 or ghcr.io/my-org (lowercase path)"


def registry_address(value: str) -> str:
    """target.registry, as lmsops.releases.registry and Docker will read it, or a ValueError saying why not."""
    match = _REGISTRY.fullmatch(value)
    if match is None:
        host, slash, path = value.partition("/")
        if slash and _REGISTRY.fullmatch(f"{host}/{path.lower()}"):
            raise ValueError(f"{value!r}: image paths are lowercase; write {host}/{path.lower()}")
        raise ValueError(f"{value!r} is not a registry address; {_REGISTRY_FORM}")
    host, port = match["host"], match["port"]
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"{value!r}: port {port} is out of range (1-65535)")
    loopback = host == "localhost" or host.startswith("127.")
    if loopback and port is None:
        raise ValueError(f"{value!r}: a loopback registry needs its port (lmsops runs its own there), e.g. {host}:5000")
    if "." not in host and port is None and host != "localhost":
        raise ValueError(
            f"{value!r}: Docker would read {host!r} as a namespace on Docker Hub, not as a registry; "
            "begin with the registry's host name, e.g. ghcr.io/my-org or docker.io/my-org"
        )
    return value


class Target(Strict):
    kind: Literal["compose", "swarm"]
    name: StackName = Field(description="Compose project or Swarm stack name")
    context: str | None = Field(default=None, description="Docker context; default: the local engine")
    host: str | None = Field(default=None, description="DOCKER_HOST, e.g. ssh://deploy@manager")
    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    publish_mode: Literal["ingress", "host"] = "ingress"
    confirm: bool = Field(default=False, description="deploy only with --yes, from a clean git tree")
    registry: str | None = Field(
        default=None, description="HOST[:PORT][/PATH] the environment deploys from, by digest (`nox -s publish`)"
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

    @field_validator("registry")
    @classmethod
    def _registry_address(cls, value: str | None) -> str | None:
        return None if value is None else registry_address(value)

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
    """Load and check env/<name>.yaml against the schema; raise one ConfigError listing every problem.

    The file's structure (pydantic) and its values (the schema) are checked independently, so a
    type error in one section does not hide the problems of another."""
    known = known_environments(repo)
    if name not in known:
        close = did_you_mean(name, known)
        raise ConfigError(
            f"unknown environment {name!r}{close}; known: {', '.join(known) or 'none'} (one file each in env/)"
        )
    path = repo.environments / f"{name}.yaml"
    shown = repo.display(path)
    raw = read_yaml(path, shown)
    top = raw if isinstance(raw, dict) else {}
    plain = _plain_secret_values(top)
    problems = list(plain.values())
    env_file: EnvFile | None = None
    try:
        env_file = EnvFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        for error, line in zip(exc.errors(), describe_validation_error(exc, EnvFile), strict=True):
            section = error["loc"][:1]
            # variables: the schema's check below says it better; a plain secret value: said above
            if section != ("variables",) and tuple(error["loc"][:2]) not in plain:
                problems.append(line)
    try:
        schema = load_schema(repo)
    except ConfigError as exc:
        raise ConfigError("\n".join([*([report(shown, problems)] if problems else []), str(exc)])) from exc
    values, more = _check(top, schema, services)
    problems += more
    if problems or env_file is None:
        raise ConfigError(report(shown, problems))
    return Environment(name, env_file, schema, values)


def _plain_secret_values(top: dict[object, object]) -> dict[tuple[str, str], str]:
    """Secret values written into env/ are refused before anything else is looked at."""
    secrets = top.get("secrets")
    if not isinstance(secrets, dict):
        return {}
    return {
        ("secrets", str(key)): f"secrets.{key}: a secret's value may not be written in env/ (it is versioned); "
        "give its source instead: {file: PATH} or {env: VARIABLE}"
        for key, value in secrets.items()
        if not isinstance(value, dict)
    }


def _section(top: dict[object, object], key: str) -> dict[object, object]:
    value = top.get(key)
    return value if isinstance(value, dict) else {}


def _check(top: dict[object, object], schema: Schema, services: set[str]) -> tuple[dict[str, str], list[str]]:
    """What the schema says of the raw file (read defensively: its structure may be broken elsewhere)."""
    problems: list[str] = []
    values: dict[str, str] = {}
    variables = top.get("variables", {})
    if not isinstance(variables, dict):
        problems.append("variables: give a mapping of NAME: value, e.g. LMS_LOG_LEVEL: info")
        variables = {}
    declared = sorted(schema.variables)
    for key, value in variables.items():
        key = str(key)
        if RESERVED.match(key):
            problems.append(f"variables.{key}: set by lmsops itself; remove it")
        elif key not in schema.variables:
            if SECRET_LOOKING.search(key):
                hint = (
                    "it looks like a secret: secret values never live in env/; declare a secret in the schema "
                    "and name its source under secrets:"
                )
            else:
                hint = "declare it in env/schema.yaml (or services/<name>/env.schema.yaml) or remove it"
            problems.append(f"variables.{key}: not declared in the schema{did_you_mean(key, declared)}; {hint}")
        elif (wrong := check_value(schema.variables[key], value)) is not None:
            problems.append(f"variables.{key}: {wrong}")
    for key, spec in sorted(schema.variables.items()):
        if key in variables:
            if check_value(spec, variables[key]) is None:
                values[key] = as_text(variables[key])
        elif spec.default is None:
            problems.append(f"variables.{key}: required ({spec.description}); set it")
        else:
            values[key] = as_text(spec.default)
    secrets = _section(top, "secrets")
    for key in secrets:
        if key not in schema.secrets:
            close = did_you_mean(str(key), sorted(schema.secrets))
            problems.append(f"secrets.{key}: not declared in the schema{close}; declare it or remove it")
    default = top.get("secret_source")
    if default is None:
        problems += [
            f"secrets.{key}: no source given ({spec.description}); add {{file: PATH}} or {{env: VARIABLE}}, "
            "or a secret_source for all"
            for key, spec in sorted(schema.secrets.items())
            if key not in secrets
        ]
    elif (
        isinstance(default, dict)
        and default.get("generate") is True
        and _section(top, "target").get("kind") != "compose"
    ):
        problems.append("secret_source.generate: only for local Compose environments; name where secrets come from")
    deploy = _section(top, "deploy")
    for part in ("replicas", "resources"):
        entries = deploy.get(part)
        for key in entries if isinstance(entries, dict) else {}:
            if key != "default" and key not in services:
                close = did_you_mean(str(key), sorted(services))
                problems.append(
                    f"deploy.{part}.{key}: no service named {key!r}{close}; "
                    f"known: {', '.join(sorted(services))}, or 'default' for all"
                )
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
