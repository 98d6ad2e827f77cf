"""Fixtures shared by the integration and conformance suites (unit tests override `repo`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from lmsops.docker import Docker
from lmsops.envconfig import known_environments, load_environment
from lmsops.model import model_services
from lmsops.paths import Repo, find_repo
from lmsops.progress import Reporter
from lmsops.registry import CONTAINER as REGISTRY_CONTAINER
from lmsops.registry import registry_down
from lmsops.stack import secret_files


@pytest.fixture(scope="session")
def docker() -> Docker:
    adapter = Docker()
    adapter.require()  # a missing engine fails the run with lmsops's own message, never a skip
    return adapter


@pytest.fixture(scope="session")
def repo() -> Repo:
    return find_repo()


@pytest.fixture(scope="session")
def swarm(docker: Docker, local_registry: None) -> Iterator[None]:
    """A swarm to deploy to: the engine's own if it is in one, else one made (and left) by the tests."""
    state, _manager = docker.swarm_state()
    if state != "active":
        docker.swarm_init()
    yield
    if state != "active":
        docker.swarm_leave()


@pytest.fixture(scope="session")
def local_registry(docker: Docker) -> Iterator[None]:
    """Swarm environments deploy from lmsops's loopback registry, which deploy starts on first use:
    removed afterwards (with its volume and the tags pushed to it) unless it was running before."""
    running = docker.run("container", "inspect", REGISTRY_CONTAINER, check=False).returncode == 0
    yield
    if not running:
        registry_down(docker, Reporter(), volumes=True)
        pushed = docker.run("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
        for tag in [t for t in pushed if t.startswith(("127.0.0.1:5000/", "localhost:5000/"))]:
            docker.run("image", "rm", tag, check=False)


@pytest.fixture(scope="session")
def swarm_secrets(repo: Repo) -> Iterator[None]:
    """Values for every secret an environment reads from the operator's environment variables."""
    names = set()
    for env_name in known_environments(repo):
        env = load_environment(repo, env_name, model_services(repo))
        for secret in secret_files(repo):
            source = env.secret_source(secret)
            if source is not None and source.env is not None:
                names.add(source.env)
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.setdefault(name, secrets.token_urlsafe(18))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)


# pytest-docker, for the dev environment: start clean even when an interrupted earlier run left the
# project behind, and remove everything (volumes too) afterwards.
@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["down --volumes --remove-orphans", "up --wait --no-build"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down --volumes --remove-orphans"]
