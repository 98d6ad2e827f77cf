"""Every git call lmsops makes: what git says about the source of an image (the commit its inputs come
from, the origin), history lookups, and the few verbs other packages need (archive, commit, identity)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lmsops.core import proc

_GIT_HINT = "Install git; lmsops labels every image with the commit it was built from."


@dataclass(frozen=True)
class SourceInfo:
    revision: str
    source: str
    # When that commit was made (UTC, ISO 8601); "" when uncommitted or dirty. An image's build time
    # is this, not the wall clock: the same commit gives the same labels on every machine.
    time: str = ""


def source_info(root: Path, paths: list[Path]) -> SourceInfo:
    """The last commit that changed any of paths ('-dirty' when they have uncommitted changes).

    Keyed on the image's own inputs, not on HEAD, so a commit that touches one service gives
    that service a new revision and leaves every other image (and its tag) as it was.
    """
    rel = [str(p.relative_to(root)) for p in paths] or ["."]
    last = proc.run(["git", "-C", str(root), "log", "-1", "--format=%H %ct", "--", *rel], check=False, hint=_GIT_HINT)
    found = last.stdout.split() if last.returncode == 0 else []
    revision, time = (found[0], _utc(found[1])) if len(found) == 2 else ("uncommitted", "")
    status = proc.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all", "--", *rel],
        check=False,
        hint=_GIT_HINT,
    )
    if status.returncode == 0 and status.stdout.strip() and revision != "uncommitted":
        revision, time = revision + "-dirty", ""
    origin = proc.run(["git", "-C", str(root), "remote", "get-url", "origin"], check=False)
    source = origin.stdout.strip() if origin.returncode == 0 and origin.stdout.strip() else root.as_uri()
    return SourceInfo(revision, source, time)


def _utc(epoch: str) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dirty_files(root: Path) -> list[str]:
    """Files with uncommitted changes (untracked ones too, unless git ignores them)."""
    status = proc.run(["git", "-C", str(root), "status", "--porcelain"], check=False, hint=_GIT_HINT)
    if status.returncode != 0:
        return ["(not a git repository)"]
    return [line[3:] for line in status.stdout.splitlines() if line.strip()]


def git(root: Path, *args: str, check: bool = True, env: Mapping[str, str] | None = None) -> proc.Result:
    return proc.run(["git", "-C", str(root), *args], check=check, env=env, hint=_GIT_HINT)


def extract(root: Path, tree_ish: str, folder: Path) -> None:
    """The files of tree_ish (e.g. `HEAD:services/catalog`) written into folder (git archive | tar)."""
    proc.pipe(
        ["git", "-C", str(root), "archive", "--format=tar", tree_ish],
        ["tar", "-x", "-C", str(folder)],
        hint=f"cannot read {tree_ish}",
    )


def user_identity() -> tuple[str, str]:
    """The git user's name and email ('' when not configured)."""
    name = proc.run(["git", "config", "user.name"], check=False).stdout.strip()
    email = proc.run(["git", "config", "user.email"], check=False).stdout.strip()
    return name, email


def last_commit(root: Path, path: str, until: str = "HEAD") -> str | None:
    """The last commit at or before `until` that changed path."""
    found = git(root, "log", "-1", "--format=%H", until, "--", path, check=False).stdout.strip()
    return found or None


def first_commit(root: Path, path: str) -> str | None:
    """The commit that first added path (following nothing: a stamped service's answers file)."""
    found = git(root, "log", "--diff-filter=A", "--format=%H", "--", path, check=False).stdout.split()
    return found[-1] if found else None


def is_commit(root: Path, ref: str) -> bool:
    return git(root, "cat-file", "-e", f"{ref}^{{commit}}", check=False).returncode == 0


def changed_paths(root: Path, path: str) -> list[str]:
    """Uncommitted changes under path, untracked files included (paths relative to the root)."""
    status = git(root, "status", "--porcelain", "--untracked-files=all", "--", path)
    return [line[3:] for line in status.stdout.splitlines() if line.strip()]
