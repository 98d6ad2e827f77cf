"""Where an environment keeps its backups (env/<name>.yaml `backups:`), behind one interface
(BackupStore) that backup and restore use for both kinds:

- BackupFolder, `backups: {folder: PATH}` (relative to the repository root, or absolute; default
  .lmsops/backups/<env>): files on the operator's machine, the dump streamed to and from the engine.
- BackupVolume, `backups: {volume: NAME}`: a Docker volume on the environment's own engine (a remote
  swarm's manager), labelled with lmsops and the environment, made on first use. One-off containers
  of the environment's postgres image mount it: the dump is written, checksummed, checked and
  restored there, and never crosses the operator's machine.

Both hold one `<id>.dump` and its `<id>.json` manifest per backup. A dump is written under a hidden
temporary name and becomes `<id>.dump` only once it is complete and checksummed, its manifest after
it: a failed backup never leaves a pair that looks valid, and a dump without a manifest is neither
listed nor restored."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, DeployError, LmsopsError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.data.jobs import (
    Dumped,
    check_archive,
    check_in_volume,
    dump_database,
    dump_into_volume,
    read_volume,
    restore_database,
    restore_from_volume,
    volume_job,
)
from lmsops.data.manifest import DUMP_SUFFIX, MANIFEST_SUFFIX, Manifest, decode, encode, sha256_of
from lmsops.environments.config import Environment
from lmsops.environments.model import Model, resolve

DEFAULT_FOLDER = Path(".lmsops") / "backups"
PARTIAL = ".partial"
VOLUME_LABEL = "org.lmsops.backups"  # on a backups volume: the environment whose backups it holds
_ID = re.compile(r"[a-z0-9][a-z0-9_-]*-[0-9]{8}T[0-9]{9}Z")  # backup_id's shape (lms-postgres-backup checks it too)


@dataclass(frozen=True)
class Listing:
    """The backups of a store, newest first, and the manifests that could not be read (by name)."""

    backups: list[Manifest] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def _listing(manifests: dict[str, bytes]) -> Listing:
    found: list[Manifest] = []
    unreadable: list[str] = []
    for name, data in sorted(manifests.items()):
        try:
            found.append(decode(data.decode(), name))
        except (ConfigError, UnicodeDecodeError):
            unreadable.append(name)
    return Listing(sorted(found, key=lambda m: (m.taken_at, m.id), reverse=True), unreadable)


class BackupStore(Protocol):
    """Where backups are kept: what backup (lmsops.data.backup) and restore (lmsops.data.restore)
    ask of either kind. engine and model are the environment's (its postgres image, network, secret)."""

    @property
    def description(self) -> str:
        """As progress lines and refusals name it: `folder .lmsops/backups/dev`, `volume lms-backups ...`."""
        ...

    def require(self) -> None:
        """Refuse (ConfigError) a store that is not this environment's, before anything changes."""
        ...

    def listing(self) -> Listing: ...

    def find(self, backup_id: str) -> Manifest | None:
        """The manifest of the backup with that id, None when the store has none (ConfigError: unreadable)."""
        ...

    def take(self, engine: Docker, model: Model, database: str, backup_id: str, report: Reporter) -> Dumped:
        """The dump of database, under a hidden temporary name until keep; its size and sha256 known."""
        ...

    def keep(self, manifest: Manifest) -> None:
        """The dump taken for manifest.id under its name, then its manifest: now a backup."""
        ...

    def discard(self, backup_id: str) -> None:
        """What take (or a keep that failed) left of backup_id; nothing else."""
        ...

    def verify(self, manifest: Manifest, shown: str) -> None:
        """What can be checked without a container (a folder: the dump's size and sha256)."""
        ...

    def check(self, engine: Docker, model: Model, manifest: Manifest, shown: str) -> str | None:
        """None when pg_restore reads the whole archive, else why not; ConfigError for a dump that
        is missing or differs from its manifest (a volume checks those in the same job)."""
        ...

    def restore(self, engine: Docker, model: Model, manifest: Manifest, report: Reporter) -> float:
        """Replace the manifest's database with its dump (lmsops.data.jobs); the seconds it took."""
        ...


@dataclass(frozen=True)
class BackupFolder:
    """Backups as files on the operator's machine: 0600 files in a 0700 folder (they hold users' data)."""

    path: Path
    shown: str  # as the operator knows it (relative to the repository root when inside it)

    @property
    def description(self) -> str:
        return f"folder {self.shown}"

    def require(self) -> None:
        return None  # any folder the operator names is theirs

    def dump(self, backup_id: str) -> Path:
        return self.path / f"{backup_id}{DUMP_SUFFIX}"

    def manifest(self, backup_id: str) -> Path:
        return self.path / f"{backup_id}{MANIFEST_SUFFIX}"

    def partial(self, backup_id: str) -> Path:
        """Where a dump is written until it is complete (hidden, never listed); made empty, readable
        by its owner only (a backup holds the users' data), in a folder only its owner enters."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path / f".{backup_id}{DUMP_SUFFIX}{PARTIAL}"
        path.touch(mode=0o600)
        return path

    def take(self, engine: Docker, model: Model, database: str, backup_id: str, report: Reporter) -> Dumped:
        partial = self.partial(backup_id)
        dumped = dump_database(engine, model, database, partial, report)
        size, sha256 = partial.stat().st_size, sha256_of(partial)
        return Dumped(dumped.server_version, dumped.revision, size, dumped.seconds, sha256)

    def keep(self, manifest: Manifest) -> None:
        """The complete, checksummed dump under its name, then its manifest (written whole, renamed)."""
        self.path.joinpath(f".{manifest.id}{DUMP_SUFFIX}{PARTIAL}").replace(self.dump(manifest.id))
        written = self.path / f".{manifest.id}{MANIFEST_SUFFIX}{PARTIAL}"
        written.touch(mode=0o600)
        written.write_text(encode(manifest))
        written.replace(self.manifest(manifest.id))

    def discard(self, backup_id: str) -> None:
        for suffix in (DUMP_SUFFIX, MANIFEST_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                self.path.joinpath(f".{backup_id}{suffix}{PARTIAL}").unlink()

    def listing(self) -> Listing:
        if not self.path.is_dir():
            return Listing()
        manifests: dict[str, bytes] = {}
        unreadable: list[str] = []
        for path in self.path.glob(f"*{MANIFEST_SUFFIX}"):
            try:
                manifests[path.name] = path.read_bytes()
            except OSError:
                unreadable.append(path.name)
        listed = _listing(manifests)
        return Listing(listed.backups, sorted([*listed.unreadable, *unreadable]))

    def find(self, backup_id: str) -> Manifest | None:
        path = self.manifest(backup_id)
        if "/" in backup_id or not path.is_file():
            return None
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read it as a backup manifest ({exc}); refused") from exc
        return decode(text, backup_id)

    def dump_of(self, manifest: Manifest) -> Path:
        return self.path / manifest.file

    def verify(self, manifest: Manifest, shown: str) -> None:
        dump = self.dump_of(manifest)
        if not dump.is_file():
            raise ConfigError(f"{shown}: its dump {dump.name} is missing; refused")
        size = dump.stat().st_size
        if size != manifest.size:
            kind = "truncated" if size < manifest.size else "longer than it was"
            raise ConfigError(f"{shown}: the dump is {kind} ({size} bytes, the manifest says {manifest.size}); refused")
        if sha256_of(dump) != manifest.sha256:
            raise ConfigError(f"{shown}: the dump is corrupt (its sha256 differs from the manifest's); refused")

    def check(self, engine: Docker, model: Model, manifest: Manifest, shown: str) -> str | None:
        return check_archive(engine, model, self.dump_of(manifest))

    def restore(self, engine: Docker, model: Model, manifest: Manifest, report: Reporter) -> float:
        return restore_database(engine, model, manifest.database, self.dump_of(manifest), report)


@dataclass(frozen=True)
class BackupVolume:
    """Backups in a Docker volume on the environment's engine, read and written only by one-off
    containers of its postgres image (lmsops.data.jobs) that mount it. engine: the environment's
    (the volume is where its data is); model: how to get the resolved model, for listing."""

    name: str
    env_name: str
    engine: Docker
    model: Callable[[], Model]

    @property
    def description(self) -> str:
        return f"volume {self.name} on the engine of {self.env_name}"

    @property
    def labels(self) -> dict[str, str]:
        return {VOLUME_LABEL: self.env_name}

    def exists(self) -> bool:
        """Whether the volume is there; ConfigError when it is, but is not this environment's backups."""
        labels = self.engine.volume_labels(self.name)
        if labels is None:
            return False
        if labels.get(VOLUME_LABEL) != self.env_name:
            whose = f"{VOLUME_LABEL}={labels[VOLUME_LABEL]}" if VOLUME_LABEL in labels else f"no {VOLUME_LABEL} label"
            raise ConfigError(
                f"env/{self.env_name}.yaml: backups.volume: the volume {self.name} exists but is not "
                f"{self.env_name}'s backups ({whose}); name another volume"
            )
        return True

    def require(self) -> None:
        self.exists()

    def _create(self) -> None:
        """Made on first use with its labels; the engine keeps the first creator's (a race is refused)."""
        if not self.exists() and self.engine.volume_create(self.name, self.labels).get(VOLUME_LABEL) != self.env_name:
            self.exists()  # another made it meanwhile: refused unless it is this environment's

    def listing(self) -> Listing:
        if not self.exists():
            return Listing()
        return _listing(read_volume(self.engine, self.model(), self.name))

    def find(self, backup_id: str) -> Manifest | None:
        if not _ID.fullmatch(backup_id) or not self.exists():
            return None
        data = read_volume(self.engine, self.model(), self.name).get(f"{backup_id}{MANIFEST_SUFFIX}")
        if data is None:
            return None
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{backup_id}: cannot read its manifest in {self.description}; refused") from exc
        return decode(text, backup_id)

    def take(self, engine: Docker, model: Model, database: str, backup_id: str, report: Reporter) -> Dumped:
        self._create()
        return dump_into_volume(self.engine, model, database, self.name, backup_id, report)

    def keep(self, manifest: Manifest) -> None:
        result = volume_job(self.engine, self.model(), self.name, "keep", manifest.id, encode(manifest))
        if result.returncode != 0:
            said = [line for line in result.stderr.splitlines() if line.strip()]
            raise DeployError(
                f"{self.env_name}: keeping the backup {manifest.id} in {self.description} failed: "
                + (said[-1] if said else f"exit code {result.returncode}")
            )

    def discard(self, backup_id: str) -> None:
        # Called while another error is raised: never hides it (the dump job removes its own partial dump).
        with contextlib.suppress(LmsopsError, OSError):
            volume_job(self.engine, self.model(), self.name, "discard", backup_id)

    def verify(self, manifest: Manifest, shown: str) -> None:
        return None  # the dump is in the volume: check sees its size and sha256 there

    def check(self, engine: Docker, model: Model, manifest: Manifest, shown: str) -> str | None:
        return check_in_volume(self.engine, model, self.name, manifest.file, manifest.size, manifest.sha256, shown)

    def restore(self, engine: Docker, model: Model, manifest: Manifest, report: Reporter) -> float:
        return restore_from_volume(self.engine, model, manifest.database, self.name, manifest.file, report)


def backup_store(
    repo: Repo, docker: Docker, env: Environment, model: Model | Callable[[], Model] | None = None
) -> BackupStore:
    """The store env/<name>.yaml names under backups: (default the folder .lmsops/backups/<env>). A
    volume is on env's engine; model: env's resolved model, or how the caller gets it, when it has one
    (else resolved when a volume job first needs its postgres image)."""
    declared = env.file.backups
    if declared is not None and declared.volume is not None:
        engine = docker.for_target(env.target.context, env.target.host)
        return BackupVolume(declared.volume, env.name, engine, _model_of(repo, docker, env, model))
    relative = Path(declared.folder).expanduser() if declared is not None and declared.folder else None
    path = relative if relative is not None else DEFAULT_FOLDER / env.name
    full = path if path.is_absolute() else repo.root / path
    return BackupFolder(full, repo.display(full))


def _model_of(
    repo: Repo, docker: Docker, env: Environment, model: Model | Callable[[], Model] | None
) -> Callable[[], Model]:
    if isinstance(model, Model):
        known = model
        return lambda: known
    return model if model is not None else cache(lambda: resolve(repo, docker, env.name))


def backup_folder(repo: Repo, env: Environment) -> BackupStore:
    """backup_store with the adapter of the local docker CLI (what `lmsops backups` has at hand)."""
    return backup_store(repo, Docker(), env)
