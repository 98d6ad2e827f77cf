"""Integration fixtures: real images built by lmsops on the real engine, real containers.

Every setting is a small fixture a test module can override. The images are built offline
(the OS root from Debian packages): tests never reach a registry.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lmsops.build import Built, build
from lmsops.containers import remove_leftovers
from lmsops.docker import Docker
from lmsops.paths import Repo, find_repo
from lmsops.progress import Reporter

SCRATCH_PREFIX = "lmsops-it"


@pytest.fixture(scope="session")
def docker() -> Docker:
    adapter = Docker()
    adapter.require()  # a missing engine fails the run with lmsops's own message, never a skip
    return adapter


@pytest.fixture(scope="session")
def repo() -> Repo:
    return find_repo()


@pytest.fixture(scope="session")
def scratch_prefix(docker: Docker) -> Iterator[str]:
    """Name prefix of the containers tests start; leftovers of an interrupted run are removed."""
    remove_leftovers(docker, SCRATCH_PREFIX)
    yield SCRATCH_PREFIX
    remove_leftovers(docker, SCRATCH_PREFIX)


@pytest.fixture(scope="session")
def base_images(repo: Repo, docker: Docker) -> dict[str, Built]:
    """Every base image, built (or found up to date) by lmsops itself."""
    results = build(repo, docker, Reporter(), names=["python", "python-build", "postgres"], mode="offline")
    return {result.name: result for result in results}
