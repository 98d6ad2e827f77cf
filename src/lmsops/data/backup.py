"""`nox -s backup -- ENV [SERVICE...]`: a consistent dump of each service's database (pg_dump takes
one snapshot per database), kept with its manifest where the environment says (lmsops.data.store).

Backups run under the environment's deploy lock, so no deploy (and no migration) changes a schema
while a dump is taken: the revision recorded is the one dumped."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lmsops import __version__
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count
from lmsops.data.jobs import postgres_image
from lmsops.data.manifest import DUMP_SUFFIX, Manifest, backup_id, size_text, utc_iso
from lmsops.data.store import BackupStore, backup_store
from lmsops.environments.database_jobs import POSTGRES, SUPERUSER_SECRET, database_services, read_secret
from lmsops.environments.model import Model, resolve
from lmsops.targets.base import Target
from lmsops.targets.factory import target_of
from lmsops.targets.lock import DEFAULT_LOCK, LockPolicy


def database_of(service: str) -> str:
    """A service's database (and role): its name, dashes made underscores (lms-postgres-provision)."""
    return service.replace("-", "_")


def chosen_services(model: Model, names: Sequence[str]) -> list[str]:
    """The named services (default: every service with a database); an unknown one is a ConfigError."""
    known = database_services(model)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(
            f"{model.env.name}: {unknown[0]!r} is not a service with a database; "
            f"those of {model.env.name}: {', '.join(known) or 'none'}"
        )
    return list(dict.fromkeys(names)) or known


@dataclass(frozen=True)
class Origin:
    """What ran when a backup was taken: the release (Swarm) and the commit of each service."""

    release: int | None
    commits: dict[str, str]

    def commit(self, service: str) -> str | None:
        return self.commits.get(service)


def origin(target: Target) -> Origin:
    """The release running (Swarm keeps a history; Compose none) and the commit of each service;
    refuses when PostgreSQL does not run (there is nothing to dump)."""
    rows = {row.service: row for row in target.status()}
    postgres = rows.get(POSTGRES)
    if postgres is None or postgres.running < 1:
        raise DeployError(
            f"{target.env.name}: {POSTGRES} is not running, so there is nothing to back up "
            f"(`nox -s status -- {target.env.name}`)"
        )
    try:
        history = target.history()
    except ConfigError:  # a Compose environment: no release history
        history = []
    if history:
        latest = history[-1]
        return Origin(latest.seq, dict.fromkeys(rows, latest.commit))
    return Origin(None, {name: row.revision for name, row in rows.items() if row.revision not in {"", "?"}})


def back_up(
    model: Model, target: Target, store: BackupStore, services: Sequence[str], report: Reporter
) -> list[Manifest]:
    """Dump each service's database into store, one after the other; the caller holds the deploy
    lock. A failure leaves no file that looks like a backup (the partial dump is removed)."""
    if not services:
        report.say(f"==> {model.env.name}: no service has a database; nothing to back up")
        return []
    read_secret(model, SUPERUSER_SECRET)  # before anything is written
    store.require()
    running = origin(target)
    kept: list[Manifest] = []
    started = time.monotonic()
    report.say(f"==> {model.env.name}: backing up {', '.join(services)} into {store.description}")
    for service in services:
        at = datetime.now(UTC)
        identifier = backup_id(service, at)
        try:
            dumped = store.take(target.engine, model, database_of(service), identifier, report)
            manifest = Manifest(
                id=identifier,
                env=model.env.name,
                target=model.project,
                service=service,
                database=database_of(service),
                file=f"{identifier}{DUMP_SUFFIX}",
                size=dumped.size,
                sha256=dumped.sha256,
                taken_at=utc_iso(at),
                seconds=round(dumped.seconds, 3),
                commit=running.commit(service),
                release=running.release,
                revision=dumped.revision,
                server_version=dumped.server_version,
                postgres_image=postgres_image(model),
                lmsops_version=__version__,
            )
            store.keep(manifest)
        except BaseException:
            store.discard(identifier)
            raise
        kept.append(manifest)
        revision = f"revision {manifest.revision}" if manifest.revision else "no alembic revision"
        report.say(f"    {service}: {identifier} ({size_text(manifest.size)}, {revision}, {dumped.seconds:.1f} s)")
    report.say(f"==> {model.env.name}: {count(len(kept), 'backup')} in {time.monotonic() - started:.1f} s")
    return kept


def backup(
    repo: Repo,
    docker: Docker,
    env_name: str,
    services: Sequence[str],
    report: Reporter,
    lock: LockPolicy = DEFAULT_LOCK,
) -> list[Manifest]:
    """`nox -s backup`: everything is validated (environment, services, secrets, where to keep them)
    before the first container runs."""
    model = resolve(repo, docker, env_name)
    chosen = chosen_services(model, services)
    store = backup_store(repo, docker, model.env, model)
    target = target_of(docker, model)
    target.engine.require_engine()
    store.require()
    with target.locked("backup", lock, report):
        return back_up(model, target, store, chosen, report)


def backup_before_removal(repo: Repo, docker: Docker, env_name: str, report: Reporter) -> Callable[[Target], None]:
    """For `down --volumes` (lmsops.targets.status.down's before_removal): in an environment marked
    `confirm: true` (production), every database backed up under the lock down holds, before
    anything is removed; when it fails, nothing is. Other environments are removed as they are."""

    def run(target: Target) -> None:
        if not target.env.target.confirm:
            return
        model = resolve(repo, docker, env_name)
        store = backup_store(repo, docker, model.env, model)
        for manifest in back_up(model, target, store, database_services(model), report):
            report.say(f"    backup before removal: {manifest.id}")

    return run
