"""Integration fixtures: real images built by lmsops on the real engine, real containers.

Every setting is a small fixture a test module can override. The images are built offline
(the OS root from Debian packages): tests never reach a registry.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_docker.plugin import Services

from lmsops.build import Built, build
from lmsops.containers import remove_leftovers
from lmsops.docker import Docker
from lmsops.envconfig import Overrides
from lmsops.model import Model, resolve
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


# --- environments for tests: beside (never instead of) a developer's real deployments -------------

TEST_SUFFIX = "-it"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def overrides() -> dict[str, Overrides]:
    """Each environment under another target name (lms-dev-it, ...) on free loopback ports."""
    return {
        env: Overrides(name_suffix=TEST_SUFFIX, variables={"LMS_GATEWAY_PORT": str(free_port())})
        for env in ("dev", "staging", "production")
    }


@pytest.fixture(scope="session")
def swarm_secrets() -> Iterator[None]:
    """Values for the secrets staging and production read from the operator's environment."""
    names = [f"LMSOPS_{env}_{secret}" for env in ("STAGING", "PRODUCTION")
             for secret in ("POSTGRES_PASSWORD", "CATALOG_DB_PASSWORD", "ENROLLMENT_DB_PASSWORD")]  # fmt: skip
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.setdefault(name, secrets.token_urlsafe(18))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)


@pytest.fixture(scope="session")
def swarm(docker: Docker) -> Iterator[None]:
    """A swarm to deploy to: the engine's own if it is in one, else one made (and left) by the tests."""
    state, _manager = docker.swarm_state()
    if state != "active":
        docker.swarm_init()
    yield
    if state != "active":
        docker.swarm_leave()


@pytest.fixture(scope="session")
def platform_images(repo: Repo, docker: Docker) -> dict[str, Built]:
    """Every base and service image, built (or found up to date) by lmsops."""
    return {result.name: result for result in build(repo, docker, Reporter(), mode="offline")}


# --- dev through pytest-docker, with lmsops's resolved model and project name --------------------


@pytest.fixture(scope="session")
def dev_model(repo: Repo, docker: Docker, overrides: dict[str, Overrides], platform_images: dict[str, Built]) -> Model:
    model = resolve(repo, docker, "dev", overrides["dev"])
    model.path(repo).write_text(model.text)
    return model


@pytest.fixture(scope="session")
def docker_compose_file(repo: Repo, dev_model: Model) -> list[str]:
    return [str(dev_model.path(repo))]


@pytest.fixture(scope="session")
def docker_compose_project_name(dev_model: Model) -> str:
    return dev_model.project


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # Start clean even when an interrupted earlier run left the project behind.
    return ["down --volumes --remove-orphans", "up --wait --no-build"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down --volumes --remove-orphans"]


@dataclass(frozen=True)
class Platform:
    """The running dev platform: its gateway URL and a way to run `docker compose` on it."""

    gateway: str
    docker: Docker
    model_file: Path
    project: str

    def compose(self, *args: str) -> str:
        return self.docker.compose(self.project, [self.model_file], None, *args).output

    def container(self, service: str) -> str:
        return self.docker.compose(self.project, [self.model_file], None, "ps", "--quiet", service).stdout.strip()


@pytest.fixture(scope="session")
def platform(docker_services: Services, docker_ip: str, docker: Docker, repo: Repo, dev_model: Model) -> Platform:
    port = docker_services.port_for("gateway", 8080)
    return Platform(f"http://{docker_ip}:{port}", docker, dev_model.path(repo), dev_model.project)
