"""Where an environment keeps its backups: env/<name>.yaml `backups: {folder: PATH}` (relative to
the repository root, or absolute; default .lmsops/backups/<env>), one `<id>.dump` and its
`<id>.json` manifest per backup. A dump is written under a temporary name and renamed only once it
is complete and checksummed, and its manifest after it: a failed backup never leaves a pair that
looks valid, and a dump without a manifest is neither listed nor restored."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.data.manifest import DUMP_SUFFIX, MANIFEST_SUFFIX, Manifest, decode, encode
from lmsops.environments.config import Environment

DEFAULT_FOLDER = Path(".lmsops") / "backups"
PARTIAL = ".partial"


@dataclass(frozen=True)
class Listing:
    """The backups of a store, newest first, and the manifests that could not be read (by name)."""

    backups: list[Manifest] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BackupFolder:
    path: Path
    shown: str  # as the operator knows it (relative to the repository root when inside it)

    @property
    def description(self) -> str:
        return f"folder {self.shown}"

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

    def keep(self, partial: Path, manifest: Manifest) -> Path:
        """The complete, checksummed dump under its name, then its manifest (written whole, renamed)."""
        dump = self.dump(manifest.id)
        partial.replace(dump)
        written = self.path / f".{manifest.id}{MANIFEST_SUFFIX}{PARTIAL}"
        written.touch(mode=0o600)
        written.write_text(encode(manifest))
        written.replace(self.manifest(manifest.id))
        return dump

    def discard(self, partial: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()

    def listing(self) -> Listing:
        found: list[Manifest] = []
        unreadable: list[str] = []
        if not self.path.is_dir():
            return Listing()
        for path in sorted(self.path.glob(f"*{MANIFEST_SUFFIX}")):
            try:
                found.append(decode(path.read_text(), path.name))
            except (ConfigError, OSError, UnicodeDecodeError):
                unreadable.append(path.name)
        return Listing(sorted(found, key=lambda m: (m.taken_at, m.id), reverse=True), unreadable)

    def find(self, backup_id: str) -> Path | None:
        """The manifest of the backup with that id, if this folder holds one."""
        path = self.manifest(backup_id)
        return path if path.is_file() and "/" not in backup_id else None


def backup_folder(repo: Repo, env: Environment) -> BackupFolder:
    """The folder env/<name>.yaml names under backups: (default .lmsops/backups/<env>)."""
    declared = env.file.backups
    if declared is not None and declared.volume is not None:
        raise ConfigError(
            f"env/{env.name}.yaml: backups.volume: backups in a Docker volume are not supported yet; "
            "use backups: {folder: PATH}"
        )
    relative = Path(declared.folder).expanduser() if declared is not None and declared.folder else None
    path = relative if relative is not None else DEFAULT_FOLDER / env.name
    full = path if path.is_absolute() else repo.root / path
    return BackupFolder(full, repo.display(full))
