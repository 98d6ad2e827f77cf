"""Database schema drift: each service's live database against the migration head of its declared image.

The comparison runs inside the service's own image (`python3 -m lms_runtime.migrate check`, a
one-off container with its settings and password: lmsops.environments.database_jobs), where its
models and migrations are: Alembic's compare_metadata over every table, column, type, nullability,
default, index, unique constraint and foreign key, plus the database's revision against the head.
What it ignores is one list in lms_runtime.migrations, each entry with its reason (docs/drift.md).

A database that cannot be checked (PostgreSQL down, the job failing) is a difference too: deny by
default means "not known to match" is reported, never taken as "matches".
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.drift.compare import Difference
from lmsops.environments.database_jobs import JobResult, database_services, run_migrate
from lmsops.environments.model import Model

CATEGORY = "schema"
# A check waits this long for PostgreSQL: drift reports a database that does not answer, it does not wait for it.
WAIT_SECONDS = 10


def schema_drift(docker: Docker, model: Model) -> list[Difference]:
    """Every difference between each service's live database and its migration head."""
    services = [service for service in database_services(model) if service in model.document.get("services", {})]
    if not services:
        return []
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        results = list(pool.map(lambda service: _check(docker, model, service), services))
    return [difference for result in results for difference in result]


def _check(docker: Docker, model: Model, service: str) -> list[Difference]:
    env = model.env.name
    try:
        result = run_migrate(docker, model, service, "check", WAIT_SECONDS)
    except DeployError as exc:  # a missing secret file, a network that cannot be joined
        return [_unchecked(env, service, str(exc))]
    answer = result.answer
    if result.returncode not in {0, 1} or "differences" not in answer:
        return [_unchecked(env, service, result.error)]
    database = answer.get("database") or service
    head = answer.get("head")
    found = [
        Difference(
            env,
            service,
            CATEGORY,
            f"database {database}: {item.get('object', '?')}",
            f"as its migrations define (head {head})",
            str(item.get("change", "differs")),
        )
        for item in answer["differences"]
    ]
    if result.returncode == 1 and not found:  # said "differs" without saying where: still a difference
        found.append(_unchecked(env, service, _said(result)))
    return found


def _unchecked(env: str, service: str, reason: str) -> Difference:
    checked = "checked against its migrations"
    return Difference(env, service, CATEGORY, "database schema", checked, f"not checked: {reason}")


def _said(result: JobResult) -> str:
    return f"the check reported a difference without naming it ({result.error})"
