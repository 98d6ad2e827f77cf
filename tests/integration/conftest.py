"""Integration fixtures: real images built by lmsops on the real engine, real containers.

Every setting is a small fixture a test module can override. The images are built offline
(the OS root from Debian packages): tests never reach a registry.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_docker.plugin import Services

from lmsops.build import Built, build
from lmsops.containers import remove_leftovers
from lmsops.docker import Docker
from lmsops.paths import Repo, find_repo
from lmsops.progress import Reporter
from lmsops.stack import compose_files, gateway_routes, generate_secrets, image_variables, secret_files, write_env_file

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


# --- the whole platform on a Compose network, through pytest-docker --------------------------
# pytest-docker's fixtures are overridden with lmsops's own files, project name and variables.

PROJECT = "lmsops-it"


@pytest.fixture(scope="session")
def platform_images(repo: Repo, docker: Docker) -> dict[str, Built]:
    """Every base and service image, built (or found up to date) by lmsops."""
    return {result.name: result for result in build(repo, docker, Reporter(), mode="offline")}


@pytest.fixture(scope="session")
def stack_env_file(repo: Repo, platform_images: dict[str, Built], tmp_path_factory: pytest.TempPathFactory) -> Path:
    secrets_dir = tmp_path_factory.mktemp("secrets")
    generate_secrets(secrets_dir, secret_files(repo))
    values = image_variables(platform_images.values()) | {
        "LMS_ENV": "dev",
        "LMS_SECRETS_DIR": str(secrets_dir),
        "LMS_GATEWAY_ROUTES": gateway_routes(repo),
    }
    return write_env_file(tmp_path_factory.mktemp("stack") / "stack.env", values)


@pytest.fixture(scope="session")
def docker_compose_command(stack_env_file: Path) -> str:
    return f"docker compose --env-file {shlex.quote(str(stack_env_file))}"


@pytest.fixture(scope="session")
def docker_compose_file(repo: Repo) -> list[str]:
    return [str(path) for path in compose_files(repo)]


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return PROJECT


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # Start clean even when an interrupted earlier run left the project behind.
    return ["down --volumes --remove-orphans", "up --wait --no-build"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down --volumes --remove-orphans"]


@dataclass(frozen=True)
class Platform:
    """The running platform: its gateway URL and a way to run `docker compose` on it."""

    gateway: str
    docker: Docker
    files: list[Path]
    env_file: Path

    def compose(self, *args: str) -> str:
        return self.docker.compose(PROJECT, self.files, self.env_file, *args).output

    def container(self, service: str) -> str:
        return self.docker.compose(PROJECT, self.files, self.env_file, "ps", "--quiet", service).stdout.strip()


@pytest.fixture(scope="session")
def platform(docker_services: Services, docker_ip: str, docker: Docker, repo: Repo, stack_env_file: Path) -> Platform:
    port = docker_services.port_for("gateway", 8080)
    return Platform(f"http://{docker_ip}:{port}", docker, compose_files(repo), stack_env_file)
