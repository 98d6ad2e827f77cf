"""Conformance: for every service of an environment's resolved model, what runs is what is declared.

`pytest tests/conformance --env staging` (or `nox -s conformance -- staging`). The environment is
brought up through lmsops under a test name (lms-staging-ct, ...) on a free port, beside any real
deployment, and removed afterwards: dev with pytest-docker (its fixtures given lmsops's resolved
model and project name), staging and production with `lmsops deploy`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lmsops.build import build
from lmsops.deploy import deploy
from lmsops.docker import Docker
from lmsops.envconfig import Overrides, known_environments, load_environment
from lmsops.model import Model, model_services, resolve
from lmsops.paths import Repo, find_repo
from lmsops.progress import Reporter
from lmsops.stack import gateway_routes, secret_files
from lmsops.status import down

SUFFIX = "-ct"
REPO = find_repo()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--env", action="append", default=[], help="environment(s) to check (default: every one of env/)")


def selected_envs(config: pytest.Config) -> list[str]:
    chosen: list[str] = config.getoption("--env") or known_environments(REPO)
    unknown = sorted(set(chosen) - set(known_environments(REPO)))
    if unknown:
        raise pytest.UsageError(f"unknown environment {unknown[0]!r}; known: {', '.join(known_environments(REPO))}")
    return chosen


def declared_services(env: str) -> list[str]:
    """The services of the model, read from its files: never a hand-kept list."""
    return sorted(model_services(REPO))


# Services the gateway routes to (they serve the runtime contract), and those that serve /version.
ROUTED = {route.split("=")[0] for route in gateway_routes(REPO).split()}
SERVES_VERSION = ROUTED | {"gateway"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """(env, service) pairs from each environment's model: every service, or those a test is about."""
    envs = selected_envs(metafunc.config)
    for name, wanted in (("service", None), ("routed", ROUTED), ("versioned", SERVES_VERSION)):
        if name in metafunc.fixturenames:
            pairs = [(e, s) for e in envs for s in declared_services(e) if wanted is None or s in wanted]
            metafunc.parametrize(("env", name), pairs, ids=[f"{e}-{s}" for e, s in pairs], scope="session")
            return
    if "env" in metafunc.fixturenames:
        metafunc.parametrize("env", envs, scope="session")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Running:
    """An environment brought up for conformance: its model, its gateway, its engine."""

    model: Model
    overrides: Overrides
    gateway: str
    docker: Docker


@pytest.fixture(scope="session")
def docker() -> Docker:
    adapter = Docker()
    adapter.require()
    return adapter


@pytest.fixture(scope="session")
def swarm_secret_values() -> Iterator[None]:
    """Staging and production read their secrets from the operator's environment: give them values."""
    names = [
        f"LMSOPS_{env.upper()}_{secret.upper().replace('-', '_')}"
        for env in ("staging", "production")
        for secret in resolve_secret_names()
    ]
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.setdefault(name, secrets.token_urlsafe(18))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)


def resolve_secret_names() -> list[str]:
    return secret_files(REPO)


@pytest.fixture(scope="session")
def swarm(docker: Docker) -> Iterator[None]:
    state, _manager = docker.swarm_state()
    if state != "active":
        docker.swarm_init()
    yield
    if state != "active":
        docker.swarm_leave()


@pytest.fixture(scope="session")
def images(docker: Docker) -> None:
    build(REPO, docker, Reporter(), mode="offline")


@pytest.fixture(scope="session")
def running(request: pytest.FixtureRequest, env: str, docker: Docker, images: None) -> Iterator[Running]:
    overrides = Overrides(SUFFIX, {"LMS_GATEWAY_PORT": str(free_port())})
    port = overrides.variables["LMS_GATEWAY_PORT"]
    if load_environment(REPO, env, model_services(REPO)).target.kind == "compose":
        yield from _compose_env(request, env, docker, overrides, port)
        return
    request.getfixturevalue("swarm")
    request.getfixturevalue("swarm_secret_values")
    try:
        deploy(REPO, docker, env, Reporter(), mode="offline", overrides=overrides)
        yield Running(resolve(REPO, docker, env, overrides), overrides, f"http://127.0.0.1:{port}", docker)
    finally:
        down(REPO, docker, env, True, Reporter(), overrides)


def _compose_env(
    request: pytest.FixtureRequest, env: str, docker: Docker, overrides: Overrides, port: str
) -> Iterator[Running]:
    """dev through pytest-docker: its fixtures are given lmsops's resolved model and project name."""
    model = resolve(REPO, docker, env, overrides)
    model.path(REPO).write_text(model.text)
    request.config.stash[MODEL_KEY] = model
    request.getfixturevalue("docker_services")
    yield Running(model, overrides, f"http://127.0.0.1:{port}", docker)


MODEL_KEY = pytest.StashKey[Model]()


@pytest.fixture(scope="session")
def docker_compose_file(pytestconfig: pytest.Config) -> list[str]:
    return [str(pytestconfig.stash[MODEL_KEY].path(REPO))]


@pytest.fixture(scope="session")
def docker_compose_project_name(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[MODEL_KEY].project


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["down --volumes --remove-orphans", "up --wait --no-build"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down --volumes --remove-orphans"]


@pytest.fixture(scope="session")
def repo() -> Repo:
    return REPO
