"""Fixtures shared by the integration and conformance suites (unit tests override `repo`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from lmsops.bench.throwaway import throwaway_secrets
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo, find_repo
from lmsops.environments.database_jobs import MIGRATE, POSTGRES, database_services
from lmsops.environments.model import Model

# Where environments run and where images are shared come from these variables (env/*.yaml,
# images/build.py). The tests deploy to this machine's engine and lmsops's loopback registry, whatever
# the shell that started them points at; a test that wants one sets it itself.
_PLACEMENT = re.compile(r"^LMSOPS_(REGISTRY|[A-Z]+_DOCKER_HOST)$")


def pytest_configure(config: pytest.Config) -> None:
    for name in [name for name in os.environ if _PLACEMENT.match(name)]:
        del os.environ[name]


@pytest.fixture(scope="session")
def docker() -> Docker:
    adapter = Docker()
    adapter.require()  # a missing engine fails the run with lmsops's own message, never a skip
    return adapter


@pytest.fixture(scope="session")
def repo() -> Repo:
    return find_repo()


@pytest.fixture(scope="session")
def swarm(docker: Docker) -> None:
    """A swarm to deploy to: prepared for the whole run (tests/engine_state.py), never per test file."""
    state, manager = docker.swarm_state()
    assert state == "active" and manager, "the run prepares a swarm (tests/engine_state.py); this engine has none"


def worker_suffix() -> str:
    """'-gw0', '-gw1', ... under pytest-xdist, else '': names of a worker's own targets and containers."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"-{worker}" if worker else ""


@pytest.fixture(scope="session")
def swarm_secrets(repo: Repo) -> Iterator[None]:
    """Values for every secret an environment reads from the operator's environment variables."""
    with throwaway_secrets(repo):
        yield


# pytest-docker, for the dev environment: start clean even when an interrupted earlier run left the
# project behind, come up in the order lmsops's deploy does (PostgreSQL, then each database migrated
# by a one-off container of its service, with its own settings and secret, then everything), and
# remove everything (volumes too) afterwards. `compose_model` is the model pytest-docker runs: each
# suite's conftest provides it.
@pytest.fixture(scope="session")
def docker_setup(compose_model: Model) -> list[str]:
    migrate = " ".join(MIGRATE)
    steps = ["down --volumes --remove-orphans", f"up --wait --no-build {POSTGRES}"]
    steps += [f"run --rm --no-deps -T {service} {migrate} upgrade" for service in database_services(compose_model)]
    return [*steps, "up --wait --no-build"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down --volumes --remove-orphans"]
