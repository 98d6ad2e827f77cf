"""One-off containers against an environment's databases, made from its resolved model.

Which services have a database (one per `<service>-db-password` secret), the network PostgreSQL
serves on, the passwords (read from the environment's secret files and handed over on standard
input only: `docker inspect` and `ps` show arguments and variables), and a service's own image run
with its own settings to migrate or check its database (`python3 -m lms_runtime.migrate`, which
prints one JSON object as the last line of its output: docs/migrations.md).

Used by provisioning and migrations at deploy (lmsops.targets) and by schema drift (lmsops.drift.schema).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.environments.model import Model
from lmsops.environments.stack import database_secrets

POSTGRES = "postgres"
SUPERUSER_SECRET = "postgres-password"  # noqa: S105 - the secret's name, not its value
MIGRATE = ("python3", "-m", "lms_runtime.migrate")
# The service reads its password from this file; a one-off job gets it on standard input instead.
PASSWORD_FILE_VARIABLE = "LMS_DATABASE_PASSWORD_FILE"  # noqa: S105 - a variable's name
JOB_LABEL = "org.lmsops.job"  # on every one-off container: `docker ps --filter label=org.lmsops.job` shows them
SERVICE_USER = "10001:10001"  # x-lmsops-service's user, for a service that does not set its own


def hardened(user: str, memory: str = "128m") -> tuple[str, ...]:
    """The least a one-off container needs: no capabilities, a read-only root, an unprivileged user."""
    return (
        "--read-only", "--tmpfs", "/tmp:mode=1777",  # noqa: S108 - a tmpfs inside the container
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--user", user, "--memory", memory, "--pids-limit", "64",
    )  # fmt: skip


def pull_policy(image: str) -> str:
    """`docker run --pull` for a job's image: "missing" when the reference names a registry (the
    environment's own, e.g. 127.0.0.1:5000/...: a swarm node may not hold it yet), else "never": a
    bare name like lmsops/catalog:TAG exists only where it was built, and "missing" would send the
    engine to Docker Hub for it."""
    first, _, rest = image.partition("/")
    names_registry = bool(rest) and ("." in first or ":" in first or first == "localhost")
    return "missing" if names_registry else "never"


def database_services(model: Model) -> list[str]:
    """The services with a database: one per `<service>-db-password` secret of the model."""
    return sorted(database_secrets(model.document.get("secrets") or {}))


def superuser(model: Model) -> str:
    """PostgreSQL's superuser: the postgres service's POSTGRES_USER, else postgres."""
    postgres = (model.document.get("services") or {}).get(POSTGRES) or {}
    environment = postgres.get("environment")
    user = environment.get("POSTGRES_USER") if isinstance(environment, dict) else None
    return str(user or "postgres")


def backend_network(model: Model) -> str:
    """The engine's name of the first network PostgreSQL is on (the stack's or project's `backend`)."""
    postgres = (model.document.get("services") or {}).get(POSTGRES) or {}
    networks = postgres.get("networks") or {}
    first = next(iter(networks)) if networks else "default"
    return f"{model.project}_{first}"


def read_secret(model: Model, name: str) -> str:
    """A secret's value from the environment's secret files: one line, no tab (lines on stdin carry it)."""
    folder = model.secrets_dir
    path = folder / name if folder is not None else Path(name)
    if folder is None or not path.is_file():
        raise DeployError(f"{model.env.name}: the secret file {name} is missing from {folder}; deploy writes it")
    value = path.read_text().rstrip("\n")
    if "\n" in value or "\t" in value:
        raise DeployError(f"secret {name}: a database password may not contain a newline or a tab; change it")
    return value


def not_attachable(model: Model, stderr: str) -> DeployError | None:
    """The error for a Swarm network made before lmsops ran one-off containers on it, else None."""
    if "not manually attachable" not in stderr:
        return None
    return DeployError(
        f"{model.env.name}: the network {backend_network(model)} predates lmsops's one-off database jobs "
        f"(not attachable); remove the stack once with `nox -s down -- {model.env.name}` (volumes are kept) "
        "and deploy again"
    )


@dataclass(frozen=True)
class JobResult:
    """What `python3 -m lms_runtime.migrate COMMAND` answered for one service."""

    service: str
    returncode: int
    answer: dict[str, Any] = field(default_factory=dict)  # its last line of JSON; {} when there was none
    stderr: str = ""

    @property
    def error(self) -> str:
        """One line saying why it failed: its own words when it said them, else its last line of output."""
        said = self.answer.get("error")
        if said:
            return str(said)
        return docker_run_error(self.stderr, self.returncode)


def docker_run_error(stderr: str, returncode: int) -> str:
    """The line of a failed one-off container's stderr that says why: the docker client's own error
    (a missing image, a network) rather than its "Run 'docker run --help'" footer, else the last line
    the program wrote."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    client = [line.removeprefix("docker: ") for line in lines if line.startswith("docker: ")]
    if client:
        return client[-1]
    said = [line for line in lines if not line.startswith(("Run 'docker run --help'", "See 'docker run --help'"))]
    return said[-1] if said else f"exit code {returncode}"


def last_json_object(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        text = line.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def _environment(spec: Mapping[str, Any]) -> dict[str, str]:
    raw = spec.get("environment") or {}
    if isinstance(raw, list):  # KEY=VALUE items
        raw = dict(str(item).split("=", 1) for item in raw if "=" in str(item))
    return {str(key): str(value) for key, value in raw.items() if value is not None and key != PASSWORD_FILE_VARIABLE}


def run_migrate(docker: Docker, model: Model, service: str, command: str, wait: int) -> JobResult:
    """Run `lms_runtime.migrate COMMAND` in a one-off container of the model's image of service, with
    the service's settings, on the database network, its password on standard input."""
    spec = model.document["services"][service]
    password = read_secret(model, f"{service}-db-password")
    result = docker.run_once(
        str(spec["image"]),
        env=_environment(spec),
        args=(*MIGRATE, command, "--password-stdin", "--wait", str(wait)),
        network=backend_network(model),
        options=(*hardened(str(spec.get("user") or SERVICE_USER), memory="256m"), "--label", f"{JOB_LABEL}={command}"),
        pull=pull_policy(str(spec["image"])),
        input_bytes=(password + "\n").encode(),
    )
    refused = not_attachable(model, result.stderr)
    if refused is not None:
        raise refused
    return JobResult(service, result.returncode, last_json_object(result.stdout), result.stderr)
