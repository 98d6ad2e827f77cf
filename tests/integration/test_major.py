"""A major upgrade that fails in the middle leaves every file as it was (lmsops upgrade-major).

The real command in a scratch clone, on the real engine: the baseline is built and measured,
versions.yaml moves to trixie and the locks are re-compiled for CPython 3.13 until one cannot be
(a requirement that exists nowhere; uv runs offline, from its cache). The whole upgrade, with its
debootstrap and every build, is too long for CI: it is run by hand (docs/base-images.md, "Major
upgrades"). The suite is checked on a loopback mirror (--mirror): its trixie Release and package
index hold what base-images/suites.yaml expects, so the check passes without leaving the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from tests.debian_mirror import serving
from tests.integration.scratch import GIT_IDENTITY, commit, make_clone, run

BROKEN = "lmsops-no-such-package-anywhere==1.0"


@pytest.fixture
def mirror(repo: Repo) -> Iterator[str]:
    """trixie on loopback: every package suites.yaml names, at a version that carries the expected one."""
    suites = yaml.safe_load((repo.base_images / "suites.yaml").read_text())["suites"]["trixie"]
    with serving() as server:
        server.add("trixie", "13.8", {base["package"]: f"{base['version']}.9-1" for base in suites.values()})
        yield server.url


@pytest.fixture
def clone(repo: Repo, docker: Docker, tmp_path: Path) -> Iterator[Path]:
    """A scratch clone whose last service cannot be locked; the image tags it
    adds are removed afterwards (only its own: other files build on the same engine meanwhile)."""
    before = set(docker.image_tags("lmsops/*"))
    path = make_clone(repo, tmp_path / "lms")
    last = sorted(p for p in (path / "services").glob("*/requirements.in"))[-1]
    last.write_text(last.read_text() + f"{BROKEN}\n")
    commit(path, "a requirement no index has")
    yield path
    for tag in sorted(set(docker.image_tags("lmsops/*")) - before):
        if docker.image_labels(tag).get("org.opencontainers.image.source") == path.as_uri():
            docker.remove_image(tag)


def tracked(clone: Path) -> dict[str, bytes]:
    names = [name for name in run(["git", "ls-files", "-z"], clone).stdout.split("\0") if name]
    return {name: (clone / name).read_bytes() for name in names}


def test_a_lock_that_fails_in_the_middle_puts_every_file_back(clone: Path, mirror: str) -> None:
    before = tracked(clone)
    env = {**os.environ, **GIT_IDENTITY, "UV_OFFLINE": "1", "LMSOPS_OFFLINE": "1"}

    result = subprocess.run(
        [sys.executable, "-m", "lmsops", "upgrade-major", "trixie", "--mirror", mirror],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "base-images/versions.yaml: os bookworm -> trixie" in result.stdout, "it got as far as the edit"
    assert "python 3.11 -> 3.13, postgres 15 -> 17" in result.stdout
    assert "re-lock every requirement for CPython 3.13" in result.stdout
    assert "the OS root debian:trixie-slim" not in result.stdout, "nothing was bootstrapped after the failure"
    [error] = [line for line in result.stderr.splitlines() if line.startswith("lmsops: error:")]
    assert "major upgrade failed: command failed" in error and "every file put back" in error
    assert run(["git", "status", "--porcelain"], clone).stdout == "", "no file changed, none added"
    assert tracked(clone) == before, "every file byte for byte as it was"
    [report] = (clone / ".lmsops" / "reports").glob("major-trixie-*.md")
    text = report.read_text()
    assert "Failed: command failed" in text and "Every file it changed was put back: the upgrade failed." in text
