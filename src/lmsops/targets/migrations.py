"""Database migrations at deploy: once per deploy, with the new images, before they take traffic.

Each service with a database brings it to its migration head with a one-off container of the image
being deployed, its settings and its password (lmsops.environments.database_jobs). The service's
`python3 -m lms_runtime.migrate upgrade` (Alembic) takes a PostgreSQL advisory lock before it reads
the current revision, so jobs started together (two deploys, a restore) apply each migration once,
and runs the whole upgrade in one transaction, so a failing migration leaves the database as it was.

The targets call migrate_databases before they roll the services (while PostgreSQL already runs; on
a first deploy right after it starts): a failing migration stops the deploy with the previous
version still serving. The services themselves never migrate: they wait at start until their
database is at their head or newer (docs/migrations.md).
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.core.progress import Reporter, count
from lmsops.environments.database_jobs import JobResult, database_services, run_migrate
from lmsops.environments.model import Model

# How long a job waits for PostgreSQL to accept connections (a first deploy starts it just before).
MAX_WAIT_SECONDS = 120


def migrate_databases(
    docker: Docker,
    model: Model,
    report: Reporter,
    services: Sequence[str] | None = None,
    *,
    serving: bool = True,
) -> list[str]:
    """Migrate the databases of services (default: every service with one) to the heads of the
    model's images, in parallel (each its own database and lock); return the services whose
    database changed. Raises DeployError naming the service and the migration that failed.

    serving: whether the previous version keeps serving when this fails (the rollout has not begun)."""
    names = list(services) if services is not None else database_services(model)
    if not names:
        return []
    started = time.monotonic()
    wait = min(MAX_WAIT_SECONDS, model.env.file.deploy.timeout)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        results = list(pool.map(lambda service: run_migrate(docker, model, service, "upgrade", wait), names))
    done = [result for result in results if result.returncode == 0 and result.answer.get("ok")]
    failed = [result for result in results if not (result.returncode == 0 and result.answer.get("ok"))]
    for result in done:
        report.say(f"    {result.service}: database {_progress(result)}")
    if failed:
        raise DeployError(_failure(model, failed[0], done, serving))
    heads = "its head" if len(names) == 1 else "their heads"
    report.say(f"    migrations: {count(len(names), 'database')} at {heads} ({time.monotonic() - started:.1f} s)")
    return [result.service for result in done if result.answer.get("applied")]


def migrate_changed(
    docker: Docker,
    model: Model,
    report: Reporter,
    running: Mapping[str, Collection[str]],
    same: Callable[[str, str], bool] = operator.eq,
    *,
    serving: bool = True,
) -> list[str]:
    """migrate_databases for the services whose declared image is not what already runs (running:
    service -> the images its containers or tasks run; same(declared, running) compares two).

    An image that runs has had its migrations applied by the deploy that started it (restore
    migrates by itself), so a deploy that changes no image of a service with a database starts no
    container for it: a no-op deploy stays as fast as `docker compose up` (docs/performance.md)."""
    services = model.document.get("services") or {}
    declared = {name: str(services[name]["image"]) for name in database_services(model) if name in services}
    stale = [
        name
        for name, image in declared.items()
        if not running.get(name) or not all(same(image, other) for other in running[name])
    ]
    current = sorted(set(declared) - set(stale))
    if current:
        report.say(f"    migrations: {', '.join(current)} already run their declared image: nothing to migrate")
    return migrate_databases(docker, model, report, stale, serving=serving) if stale else []


def _progress(result: JobResult) -> str:
    answer = result.answer
    applied = [str(revision) for revision in answer.get("applied") or []]
    if not applied:
        return f"{answer.get('database', result.service)} at its head {answer.get('to')} (nothing to apply)"
    return (
        f"{answer.get('database', result.service)} migrated {answer.get('from') or 'from empty'} -> "
        f"{answer.get('to')} ({', '.join(applied)})"
    )


def _failure(model: Model, result: JobResult, done: list[JobResult], serving: bool) -> str:
    answer = result.answer
    revision = answer.get("failed")
    where = f"the migration {revision} ({answer.get('file')})" if revision else "migrating its database"
    database = answer.get("database") or result.service
    kept = "nothing was rolled out: the previous version keeps serving, and " if serving else ""
    others = [r.service for r in done if r.answer.get("applied")]
    also = (
        f" ({', '.join(others)} migrated meanwhile: a migration must keep the running version working)"
        if others
        else ""
    )
    return (
        f"{model.env.name}: {result.service}: {where} failed: {result.error}; {kept}the database {database} is "
        f"unchanged (an upgrade is one transaction){also}"
    )
