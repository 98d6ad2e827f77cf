"""Each service's PostgreSQL role and database, provisioned on the running server at every Swarm deploy.

A service that has a database declares a secret `<service>-db-password`. lmsops gives the role
`<service>` (dashes become underscores) that password and a database it owns by running the
postgres image's `lms-postgres-provision` once, on the environment's backend network, with the
passwords on its standard input (never in arguments or variables: `docker inspect` and `ps` show
those). PostgreSQL itself never receives these secrets, so adding a service or rotating its
password does not restart PostgreSQL, and every other service keeps its database meanwhile.

Idempotent: an existing role gets its password set again, an existing database is kept.

Compose targets (dev) do not use this: there PostgreSQL gets every `<service>-db-password` secret
itself and provisions at start (lmsops.environments.model), so that the model also comes up with a
plain `docker compose up --wait` (pytest-docker's conformance of dev); a new service then recreates
PostgreSQL's container in dev, never in staging or production.
"""

from __future__ import annotations

import time
from pathlib import Path

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.core.progress import Reporter
from lmsops.environments.model import Model
from lmsops.environments.stack import database_secrets

POSTGRES = "postgres"
SUPERUSER_SECRET = "postgres-password"  # noqa: S105 - the secret's name, not its value
# The one-off container gets the least it needs: no capabilities, a read-only root, postgres's uid.
_HARDENED = (
    "--read-only", "--tmpfs", "/tmp:mode=1777",  # noqa: S108 - a tmpfs inside the container
    "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
    "--user", "999:999", "--memory", "128m", "--pids-limit", "64",
)  # fmt: skip


def database_services(model: Model) -> list[str]:
    """The services with a database: one per `<service>-db-password` secret of the model."""
    return sorted(database_secrets(model.document.get("secrets") or {}))


def _network(model: Model) -> str:
    networks = model.document["services"][POSTGRES].get("networks") or {}
    first = next(iter(networks)) if networks else "default"
    return f"{model.project}_{first}"


def _read(folder: Path, name: str) -> str:
    path = folder / name
    if not path.is_file():
        raise DeployError(f"cannot provision databases: the secret file {name} is missing from {folder}")
    value = path.read_text().rstrip("\n")
    if "\n" in value or "\t" in value:
        raise DeployError(f"secret {name}: a database password may not contain a newline or a tab; change it")
    return value


def provision_databases(docker: Docker, model: Model, report: Reporter, timeout: float) -> list[str]:
    """Provision every service's role and database on the model's running PostgreSQL (waiting up to
    timeout seconds for it to accept connections); return the services provisioned."""
    services = database_services(model)
    postgres = (model.document.get("services") or {}).get(POSTGRES)
    if not services or postgres is None or model.secrets_dir is None:
        return []
    started = time.monotonic()
    lines = [_read(model.secrets_dir, SUPERUSER_SECRET)]
    lines += [f"{service}\t{_read(model.secrets_dir, f'{service}-db-password')}" for service in services]
    result = docker.run_once(
        str(postgres["image"]),
        entrypoint="lms-postgres-provision",
        network=_network(model),
        env={"LMS_PROVISION_WAIT": str(int(timeout)), "POSTGRES_USER": _superuser(postgres)},
        options=_HARDENED,
        pull="missing",
        input_bytes=("\n".join(lines) + "\n").encode(),
    )
    if "not manually attachable" in result.stderr:
        raise DeployError(
            f"{model.env.name}: the network {_network(model)} predates lmsops's provisioning (not attachable); "
            f"remove the stack once with `nox -s down -- {model.env.name}` (volumes are kept) and deploy again"
        )
    if result.returncode != 0:
        raise DeployError(
            f"{model.env.name}: provisioning the databases of {', '.join(services)} failed: "
            f"{result.stderr.strip() or result.stdout.strip() or f'exit code {result.returncode}'}"
        )
    report.say(
        f"    databases of {', '.join(services)}: provisioned on the running PostgreSQL "
        f"({time.monotonic() - started:.1f} s)"
    )
    return services


def _superuser(postgres: dict[str, object]) -> str:
    environment = postgres.get("environment")
    user = environment.get("POSTGRES_USER") if isinstance(environment, dict) else None
    return str(user or "postgres")
