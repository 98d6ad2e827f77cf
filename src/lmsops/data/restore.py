"""`nox -s restore -- ENV BACKUP [--yes] [--no-backup]`: put a service's database back as a backup
has it, then migrate it to the running code's schema.

Everything is checked before anything changes, and a refusal is one line: the manifest (present,
parseable, an lmsops backup), the dump's size and sha256, the environment and the service, and
pg_restore reading the whole archive in a one-off container. A backup of another environment is
refused (docs/backups.md: one environment's data never flows into another by this command).
The restore itself (lmsops.data.jobs.restore_database) keeps the database readable and refuses
writes while it runs, and changes nothing when it fails."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.data.backup import back_up, database_of, origin
from lmsops.data.manifest import DUMP_SUFFIX, MANIFEST_SUFFIX, Manifest, decode, size_text
from lmsops.data.store import BackupFolder, BackupStore, backup_store
from lmsops.environments.database_jobs import database_services
from lmsops.environments.model import Model, resolve
from lmsops.targets.base import Target
from lmsops.targets.factory import target_of
from lmsops.targets.lock import DEFAULT_LOCK, LockPolicy
from lmsops.targets.migrations import migrate_databases
from lmsops.targets.status import environment, require_confirmation


@dataclass(frozen=True)
class Located:
    store: BackupStore  # the environment's store, or the folder of the file the operator named
    manifest: Manifest
    shown: str  # how the refusals name it: the id, or the path the operator gave


def _looks_like_path(reference: str) -> bool:
    return "/" in reference or reference.endswith((DUMP_SUFFIX, MANIFEST_SUFFIX)) or Path(reference).is_file()


def locate(store: BackupStore, env_name: str, reference: str) -> Located:
    """A backup by id (in the environment's store) or by the path of its dump or manifest: a file on
    this machine, whatever the environment's store (its folder is then the store)."""
    if not _looks_like_path(reference):
        found = store.find(reference)
        if found is None:
            raise ConfigError(
                f"{env_name}: no backup {reference!r} in {store.description}; `nox -s backups -- {env_name}` lists them"
            )
        return Located(store, found, reference)
    given = Path(reference).expanduser()
    if not given.is_file():
        raise ConfigError(f"{reference}: no such file")
    manifest_path = given if given.suffix == MANIFEST_SUFFIX else given.with_suffix(MANIFEST_SUFFIX)
    if not manifest_path.is_file():
        raise ConfigError(
            f"{reference}: no lmsops manifest beside it ({manifest_path.name}); only backups made by "
            "`nox -s backup` are restored; refused"
        )
    try:
        text = manifest_path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{manifest_path}: cannot read it as a backup manifest ({exc}); refused") from exc
    manifest = decode(text, str(manifest_path))
    dump = manifest_path.parent / manifest.file
    if given != manifest_path and given.resolve() != dump.resolve():
        raise ConfigError(f"{reference}: its manifest {manifest_path.name} describes {manifest.file}; refused")
    return Located(BackupFolder(manifest_path.parent, str(manifest_path.parent)), manifest, reference)


def verify(located: Located, model: Model) -> None:
    """The dump is whole and unchanged (as far as its store checks without a container), and a backup
    of one of this environment's databases."""
    manifest, shown, env_name = located.manifest, located.shown, model.env.name
    located.store.verify(manifest, shown)
    if manifest.env != env_name:
        raise ConfigError(
            f"{shown}: a backup of {manifest.env}, not {env_name}; restoring another environment's data is "
            "refused (docs/backups.md)"
        )
    if manifest.service not in database_services(model):
        raise ConfigError(f"{shown}: a backup of {manifest.service}, which has no database in {env_name}; refused")
    if manifest.database != database_of(manifest.service):
        raise ConfigError(
            f"{shown}: a backup of the database {manifest.database}, but {manifest.service}'s is "
            f"{database_of(manifest.service)}; refused"
        )


def running_model(model: Model, target: Target, service: str) -> Model:
    """The model with service's image as it runs: the restored database is migrated to the schema of
    the code that serves it, not of this checkout."""
    rows = {row.service: row for row in target.status()}
    row = rows.get(service)
    if row is None or not row.image:
        return model
    document = {**model.document, "services": dict(model.document["services"])}
    document["services"][service] = {**document["services"][service], "image": row.image}
    return dataclasses.replace(model, document=document)


def restore(
    repo: Repo,
    docker: Docker,
    env_name: str,
    reference: str,
    report: Reporter,
    lock: LockPolicy = DEFAULT_LOCK,
    *,
    yes: bool = False,
    no_backup: bool = False,
) -> Manifest | None:
    """Restore the backup named by reference into env_name; return the backup taken first (confirm:
    true environments, unless no_backup), else None."""
    env = environment(repo, env_name)
    flags = " --no-backup" if no_backup else ""
    require_confirmation(env, yes, "restoring a database of", f"nox -s restore -- {env_name} {reference}{flags}")
    resolved = cache(lambda: resolve(repo, docker, env_name))  # a volume store's find needs it first
    store = backup_store(repo, docker, env, resolved)
    store.require()
    located = locate(store, env_name, reference)
    model = resolved()
    verify(located, model)
    target = target_of(docker, model)
    target.engine.require_engine()
    problem = located.store.check(target.engine, model, located.manifest, located.shown)
    if problem is not None:
        raise ConfigError(f"{located.shown}: pg_restore cannot read it ({problem}); refused")
    manifest = located.manifest
    service = manifest.service
    with target.locked("restore", lock, report):
        origin(target)  # PostgreSQL runs
        safety = None
        if env.target.confirm and not no_backup:
            safety = back_up(model, target, store, [service], report)[0]
            report.say(
                f"    backup before the restore: {safety.id} (`nox -s restore -- {env_name} {safety.id}` undoes it)"
            )
        report.say(
            f"==> {env_name}: restoring {manifest.database} from {manifest.id} ({size_text(manifest.size)}, "
            f"taken {manifest.taken_at}); writes are refused meanwhile, reads go on"
        )
        started = time.monotonic()
        seconds = located.store.restore(target.engine, model, manifest, report)
        report.say(f"    {service}: restored in {seconds:.1f} s; migrating it to the running code's schema")
        try:
            migrate_databases(target.engine, running_model(model, target, service), report, services=[service])
        except DeployError as exc:
            raise DeployError(
                f"{env_name}: {service} was restored from {manifest.id}, but migrating it failed: {exc}"
            ) from exc
        report.say(f"==> {env_name}: {service} restored from {manifest.id} in {time.monotonic() - started:.1f} s")
    return safety
