"""Unit-test helpers: a scratch lmsops repository and a fake Docker adapter."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from lmsops.core import docker as docker_adapter
from lmsops.core.paths import Repo, find_repo

VERSIONS = """\
namespace: lmsops
os:
  reference: debian:bookworm-slim
  digest: sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
  version: "12-1"
  suite: bookworm
  mirror: http://deb.debian.org/debian
images:
  python:
    version: "3.11-1"
  python-build:
    version: "3.11-1"
  postgres:
    version: "15-1"
"""

DOCKERFILES = {
    "python": "ARG OS_IMAGE\nFROM ${OS_IMAGE}\nRUN true\n",
    "python-build": "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\nRUN true\n",
    "postgres": "ARG OS_IMAGE\nFROM ${OS_IMAGE}\nRUN true\n",
}


@pytest.fixture(autouse=True)
def no_compose_version_found_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test asks its own (fake) engine for Compose's version: the adapter keeps what it found."""
    monkeypatch.setattr(docker_adapter, "_COMPOSE_VERSIONS", {})


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A minimal lmsops repository: versions.yaml and three base Dockerfiles."""
    write(tmp_path / "base-images" / "versions.yaml", VERSIONS)
    for name, text in DOCKERFILES.items():
        write(tmp_path / "base-images" / name / "Dockerfile", text)
    (tmp_path / "services").mkdir()
    return Repo(tmp_path)


PROJECT = find_repo(Path(__file__).parent)


@pytest.fixture
def project(tmp_path: Path) -> Repo:
    """A copy of this repository's environment files, to break on purpose."""
    for folder in ("env", "stacks", "base-images"):
        shutil.copytree(PROJECT.root / folder, tmp_path / folder)
    for fragment in PROJECT.services.glob("*/*.yaml"):
        target = tmp_path / "services" / fragment.parent.name / fragment.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fragment, target)
    return Repo(tmp_path)
