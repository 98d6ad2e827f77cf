"""One process at a time on a shared resource of this machine (a registry lmsops pushes to)."""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def machine_lock(name: str) -> Path:
    """The lock file for a resource of this machine shared by every checkout and clone (a registry):
    in the temporary directory, per user, not in a repository's own .lmsops/."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return Path(tempfile.gettempdir()) / f"lmsops-{os.getuid()}" / "locks" / f"{safe}.lock"


@contextmanager
def exclusive(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on path (created if missing) for the block; on_wait is called once when
    another process holds it, before waiting. The kernel drops the lock if the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
