"""A scratch clone of this repository for tests that change its files (template, versions.yaml).

The clone shares this repository's history, so every image keeps its identity and is found up
to date; the working tree's templates/ and base-images/ are copied over and committed, so what is
tested is what is being worked on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lmsops.core.paths import Repo
from lmsops.images.wheelhouse import share_wheel_cache

BIN = Path(sys.executable).parent
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "lmsops tests",
    "GIT_AUTHOR_EMAIL": "tests@lmsops.invalid",
    "GIT_COMMITTER_NAME": "lmsops tests",
    "GIT_COMMITTER_EMAIL": "tests@lmsops.invalid",
}


def run(argv: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_IDENTITY})
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def commit(clone: Path, message: str) -> None:
    run(["git", "add", "--all"], clone)
    run(["git", "commit", "--quiet", "--allow-empty", "-m", message], clone)


def make_clone(repo: Repo, target: Path) -> Path:
    run(["git", "clone", "--quiet", str(repo.root), str(target)], target.parent)
    # No origin: the images the clone builds then carry its own file:// URI as their source label,
    # which tells them apart from the images other tests build on the same engine at the same time.
    run(["git", "remote", "remove", "origin"], target)
    for folder in ("templates", "base-images"):
        shutil.rmtree(target / folder)
        shutil.copytree(repo.root / folder, target / folder, symlinks=True)
    # The locked wheels already fetched (hash-checked again on use): a clone that rebuilds the services
    # does not download them from the index again (that was a good part of the base-upgrade test's time).
    share_wheel_cache(repo, Repo(target))
    if (repo.work / "wheelhouse").is_dir():
        shutil.copytree(repo.work / "wheelhouse", target / ".lmsops" / "wheelhouse")
    # One SBOM cache for the repository and every clone: an SBOM is cached under its image's ID (one
    # content forever) and written whole by rename, so clones scanning the same images at the same
    # time stay correct; each image is scanned once a run instead of once per clone (~6 s of syft's
    # CPU each). test_sbom checks the scanning itself on a cache of its own.
    (repo.work / "sbom").mkdir(parents=True, exist_ok=True)
    (target / ".lmsops").mkdir(exist_ok=True)
    (target / ".lmsops" / "sbom").symlink_to(repo.work / "sbom", target_is_directory=True)
    commit(target, "the working tree under test")
    return target
