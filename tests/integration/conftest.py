"""Integration fixtures: real images built by lmsops on the real engine, real containers.

Every setting is a small fixture a test module can override. The images are built offline
(the OS root from Debian packages): tests never reach a registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pytest_docker.plugin import Services, get_docker_services

from lmsops.bench.throwaway import throwaway_environments
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo, find_repo
from lmsops.core.progress import Reporter
from lmsops.deploy.apply import DeployResult, deploy
from lmsops.environments.config import known_environments
from lmsops.environments.model import Model, resolve
from lmsops.images.build import Built, build
from lmsops.images.context import Context
from lmsops.targets.containers import remove_leftovers
from lmsops.targets.status import down
from tests.conftest import worker_suffix
from tests.engine_state import prepare, restore
from tests.ports import free_port
from tests.timeline import Timeline

SCRATCH_PREFIX = f"lmsops-it{worker_suffix()}"
_TIMELINE = Timeline()


def pytest_sessionstart(session: pytest.Session) -> None:
    prepare(session.config)  # a swarm and the loopback registry, once for the run


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not worker_suffix():  # the controller (or a run without workers): it sees every worker's reports
        _TIMELINE.add(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = _TIMELINE.lines()
    if lines:
        terminalreporter.write_sep("=", "test files by worker (FROM the run's first test; TOOK: setup to teardown)")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    restore(session.config)


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

TEST_SUFFIX = f"-it{worker_suffix()}"


@dataclass(frozen=True)
class Renamed:
    """Throwaway copies of environments (target lms-<env><suffix>) on free loopback ports: their own
    environment files (lmsops.bench.throwaway), deployed like any other environment."""

    repo: Repo
    ports: dict[str, str]

    def gateway(self, env: str) -> str:
        return f"http://127.0.0.1:{self.ports[env]}"

    @contextmanager
    def variables(self, env: str, values: dict[str, str]) -> Iterator[None]:
        """Its env file with other variable values for the block (a configuration change to deploy)."""
        path = self.repo.environments / f"{env}.yaml"
        original = path.read_text()
        data = yaml.safe_load(original)
        data["variables"] = {**data.get("variables", {}), **{k: yaml.safe_load(v) for k, v in values.items()}}
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        try:
            yield
        finally:
            path.write_text(original)


def renamed(suffix: str, envs: list[str], context: str | None = None) -> Renamed:
    ports = {env: str(free_port()) for env in envs}
    values = {env: {"LMS_GATEWAY_PORT": port} for env, port in ports.items()}
    return Renamed(throwaway_environments(find_repo(), suffix, values, context=context), ports)


@pytest.fixture(scope="session")
def test_envs() -> Renamed:
    """Each environment under another target name (lms-dev-it, ...) on free loopback ports."""
    return renamed(TEST_SUFFIX, known_environments(find_repo()))


@pytest.fixture(scope="session")
def platform_images(repo: Repo, docker: Docker) -> dict[str, Built]:
    """Every base and service image, built (or found up to date) by lmsops."""
    return {result.name: result for result in build(repo, docker, Reporter(), mode="offline")}


@contextmanager
def environments_deployed(
    envs: Renamed, docker: Docker, only: list[str] | None = None
) -> Iterator[dict[str, DeployResult]]:
    """Deploy each renamed environment (or only those named); remove them (volumes too) afterwards."""
    names = list(envs.ports) if only is None else only
    results: dict[str, DeployResult] = {}
    try:
        for env in names:
            results[env] = deploy(Context(envs.repo, docker, Reporter(), "offline"), env)
        yield results
    finally:
        for env in names:
            down(envs.repo, docker, env, True, Reporter())


# --- dev through pytest-docker, with lmsops's resolved model and project name --------------------


@pytest.fixture(scope="session")
def dev_model(docker: Docker, test_envs: Renamed, platform_images: dict[str, Built]) -> Model:
    model = resolve(test_envs.repo, docker, "dev")
    model.path(test_envs.repo).write_text(model.text)
    return model


@pytest.fixture(scope="session")
def compose_model(dev_model: Model) -> Model:
    return dev_model


@pytest.fixture(scope="session")
def docker_compose_file(repo: Repo, dev_model: Model) -> list[str]:
    return [str(dev_model.path(repo))]


@pytest.fixture(scope="session")
def docker_compose_project_name(dev_model: Model) -> str:
    return dev_model.project


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


@pytest.fixture(scope="module")
def docker_services(
    docker_compose_command: str,
    docker_compose_file: list[str],
    docker_compose_project_name: str,
    docker_setup: list[str],
    docker_cleanup: list[str],
) -> Iterator[Services]:
    """pytest-docker's dev platform, for one test file at a time (its own fixture lives for the session):
    kept until the run's end, an idle dev on a worker cost CPU the other workers needed for ~20 minutes
    (its health checks and gateway: docs/performance.md) after its first file was done."""
    with get_docker_services(
        docker_compose_command, docker_compose_file, docker_compose_project_name, docker_setup, docker_cleanup
    ) as services:
        yield services


@pytest.fixture(scope="module")
def platform(docker_services: Services, docker_ip: str, docker: Docker, repo: Repo, dev_model: Model) -> Platform:
    port = docker_services.port_for("gateway", 8080)
    return Platform(f"http://{docker_ip}:{port}", docker, dev_model.path(repo), dev_model.project)
