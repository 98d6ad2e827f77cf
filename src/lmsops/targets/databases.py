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

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.core.progress import Reporter
from lmsops.environments.database_jobs import (
    POSTGRES,
    SUPERUSER_SECRET,
    backend_network,
    database_services,
    hardened,
    not_attachable,
    pull_policy,
    read_secret,
    superuser,
)
from lmsops.environments.model import Model

__all__ = ["database_services", "provision_databases"]


def provision_databases(docker: Docker, model: Model, report: Reporter, timeout: float) -> list[str]:
    """Provision every service's role and database on the model's running PostgreSQL (waiting up to
    timeout seconds for it to accept connections); return the services provisioned."""
    services = database_services(model)
    postgres = (model.document.get("services") or {}).get(POSTGRES)
    if not services or postgres is None or model.secrets_dir is None:
        return []
    started = time.monotonic()
    lines = [read_secret(model, SUPERUSER_SECRET)]
    lines += [f"{service}\t{read_secret(model, f'{service}-db-password')}" for service in services]
    result = docker.run_once(
        str(postgres["image"]),
        entrypoint="lms-postgres-provision",
        network=backend_network(model),
        env={"LMS_PROVISION_WAIT": str(int(timeout)), "POSTGRES_USER": superuser(model)},
        options=hardened("999:999"),
        pull=pull_policy(str(postgres["image"])),
        input_bytes=("\n".join(lines) + "\n").encode(),
    )
    refused = not_attachable(model, result.stderr)
    if refused is not None:
        raise refused
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
