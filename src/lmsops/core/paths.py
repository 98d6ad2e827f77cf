"""Where things live in an lmsops repository."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lmsops.core.errors import ConfigError

MARKER = Path("base-images") / "versions.yaml"


@dataclass(frozen=True)
class Repo:
    """The repository lmsops works on; every path is derived from its root.

    env_root: where its environment files are read from, when not env/ (a throwaway deployment's
    renamed copies, lmsops.bench.throwaway; the schema is always env/schema.yaml)."""

    root: Path
    env_root: Path | None = None

    @property
    def environments(self) -> Path:
        """The folder of the environment files (env/<name>.yaml)."""
        return self.env_root or self.root / "env"

    @property
    def base_images(self) -> Path:
        return self.root / "base-images"

    @property
    def versions_file(self) -> Path:
        return self.root / MARKER

    @property
    def services(self) -> Path:
        return self.root / "services"

    @property
    def libs(self) -> Path:
        """Shared Python libraries that services install (e.g. the runtime contract)."""
        return self.root / "libs"

    @property
    def work(self) -> Path:
        """Scratch space for lmsops (rootfs trees, iid files); git ignores it."""
        return self.root / ".lmsops"

    def display(self, path: Path) -> str:
        """A path as the user knows it: relative to the repository root."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def find_repo(start: Path | None = None) -> Repo:
    """The repository root: $LMSOPS_ROOT, or the nearest folder upwards holding base-images/versions.yaml."""
    override = os.environ.get("LMSOPS_ROOT")
    if override:
        root = Path(override).resolve()
        if not (root / MARKER).is_file():
            raise ConfigError(f"LMSOPS_ROOT={override}: no {MARKER} there; point it at the lmsops repository root")
        return Repo(root)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return Repo(folder)
    raise ConfigError(f"no lmsops repository here: {MARKER} not found in {here} or any parent; run from the repository")
