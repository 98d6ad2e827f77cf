"""What git says about the source of an image: commit, dirtiness, origin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmsops import proc

_GIT_HINT = "Install git; lmsops labels every image with the commit it was built from."


@dataclass(frozen=True)
class SourceInfo:
    revision: str
    source: str


def source_info(root: Path, paths: list[Path]) -> SourceInfo:
    """HEAD's commit (with '-dirty' when any of paths has uncommitted changes) and the origin URL."""
    head = proc.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=False, hint=_GIT_HINT)
    revision = head.stdout.strip() if head.returncode == 0 else "uncommitted"
    rel = [str(p.relative_to(root)) for p in paths]
    status = proc.run(["git", "-C", str(root), "status", "--porcelain", "--", *rel], check=False, hint=_GIT_HINT)
    if status.returncode == 0 and status.stdout.strip():
        revision += "-dirty"
    origin = proc.run(["git", "-C", str(root), "remote", "get-url", "origin"], check=False)
    source = origin.stdout.strip() if origin.returncode == 0 and origin.stdout.strip() else root.as_uri()
    return SourceInfo(revision, source)
