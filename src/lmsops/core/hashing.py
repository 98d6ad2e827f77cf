"""Content hashes of image inputs: equal inputs give equal hashes, on any machine."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

# Files that never reach an image and differ from machine to machine.
_IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", ".nox"}


def tree_files(folder: Path) -> list[Path]:
    """Every file below folder (or folder itself, if it is a file), in a stable order, without caches."""
    if folder.is_file():
        return [folder]
    found: list[Path] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
        found.extend(Path(current) / name for name in sorted(files) if not name.endswith(".pyc"))
    return found


def inputs_hash(files: Iterable[tuple[str, Path]], values: Mapping[str, str]) -> str:
    """sha256 over (name, executable bit, content) of each file and the sorted key=value pairs."""
    digest = hashlib.sha256()
    for name, path in sorted(files, key=lambda item: item[0]):
        digest.update(name.encode() + b"\0")
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for key in sorted(values):
        digest.update(f"{key}={values[key]}\0".encode())
    return digest.hexdigest()
