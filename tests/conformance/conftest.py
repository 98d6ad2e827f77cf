"""Conformance: for every service of an environment's resolved model, what runs is what is declared.

`pytest tests/conformance --env staging` (or `nox -s conformance -- staging`). The environment is
brought up through lmsops under a test name (lms-staging-ct, ...) on a free port, beside any real
deployment, and removed afterwards: dev with pytest-docker (its fixtures given lmsops's resolved
model and project name), staging and production with `lmsops deploy`.

`--deployed-from FOLDER` checks environments that already run instead, as deployed from the
environment files in FOLDER (throwaway copies, lmsops.bench.throwaway): nothing is deployed or removed
(the integration suite checks its three environments side by side this way).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

from lmsops.bench.throwaway import throwaway_environments
from lmsops.cluster import node_engines, service_node_address
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo, find_repo
from lmsops.core.progress import Reporter
from lmsops.deploy.apply import deploy
from lmsops.environments.config import known_environments, load_environment
from lmsops.environments.model import Model, model_services, resolve
from lmsops.environments.stack import database_secrets, gateway_routes, secret_files
from lmsops.images.affected import affected_images
from lmsops.images.build import build
from lmsops.images.context import Context
from lmsops.images.versions import load_versions
from lmsops.targets.status import down
from tests.engine_state import prepare, restore
from tests.ports import free_port

SUFFIX = "-ct"
REPO = find_repo()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--env", action="append", default=[], help="environment(s) to check (default: every one of env/)")
    parser.addoption(
        "--context",
        metavar="NAME",
        help="deploy Swarm environments to this Docker context (e.g. lmsops-cluster) instead of the local engine",
    )
    parser.addoption(
        "--deployed-from",
        metavar="FOLDER",
        help="check the environments already running as deployed from the environment files in FOLDER "
        "(throwaway copies); deploy and remove nothing",
    )
    parser.addoption(
        "--changed-since",
        metavar="REF",
        help="only the services whose image a change since REF affects (the selection of `build --changed-since`)",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """A swarm and the loopback registry for the run, when a Swarm environment is checked."""
    deployed_from = session.config.getoption("--deployed-from")
    if deployed_from:
        # A mistake in the folder is one line before any test, not an error repeated by each test.
        missing = [env for env in selected_envs(session.config) if not (Path(deployed_from) / f"{env}.yaml").is_file()]
        if missing:
            raise pytest.UsageError(
                f"--deployed-from {deployed_from}: no {missing[0]}.yaml there; "
                "give the folder of the environment files the environments were deployed from"
            )
        return  # what is deployed already has its swarm and registry
    if session.config.getoption("--context"):
        return  # a context names a swarm already
    kinds = {load_environment(REPO, env, model_services(REPO)).target.kind for env in selected_envs(session.config)}
    if "swarm" in kinds:
        prepare(session.config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    restore(session.config)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadScopeScheduling:
    """Under pytest-xdist (`-n`), each environment's checks go to one worker, which deploys it once.

    A scheduler rather than `xdist_group` marks: pytest 9 keeps node ids in `Node._id`, and xdist
    3.8's loadgroup renames `_nodeid`, so its groups are silently ignored (measured: every worker
    deployed dev at once under the same names)."""
    envs = sorted(selected_envs(config), key=len, reverse=True)  # 'prod-eu' before 'prod'

    class ByEnvironment(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            params = nodeid.rpartition("[")[2].rstrip("]")  # ids are ENV or ENV-SERVICE[-PATH]
            return next((env for env in envs if params == env or params.startswith(f"{env}-")), nodeid)

    return ByEnvironment(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --changed-since: deselect the checks of services the change does not affect (a service's
    image carries its name); environment-wide checks stay when any of its services is affected."""
    ref = config.getoption("--changed-since")
    if not ref:
        return
    affected = set(affected_images(REPO, load_versions(REPO), ref))
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        service = next((params[key] for key in ("service", "routed", "versioned", "database") if key in params), None)
        wanted = service in affected if service else bool(affected & set(model_services(REPO)))
        (kept if wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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
DATABASES = set(database_secrets(secret_files(REPO)))  # services with a `<service>-db-password` secret
SERVES_VERSION = ROUTED | {"gateway"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """(env, service) pairs from each environment's model: every service, or those a test is about."""
    envs = selected_envs(metafunc.config)
    for name, wanted in (("service", None), ("routed", ROUTED), ("versioned", SERVES_VERSION), ("database", DATABASES)):
        if name in metafunc.fixturenames:
            pairs = [(e, s) for e in envs for s in declared_services(e) if wanted is None or s in wanted]
            metafunc.parametrize(("env", name), pairs, ids=[f"{e}-{s}" for e, s in pairs], scope="session")
            return
    if "env" in metafunc.fixturenames:
        metafunc.parametrize("env", envs, scope="session")


@dataclass(frozen=True)
class Running:
    """An environment brought up for conformance: its model, its gateway, its engine."""

    model: Model
    repo: Repo  # the throwaway environment files it was deployed from (lms-<env>-ct)
    gateway: str
    docker: Docker  # the engine the environment runs on (a swarm manager)
    images: Docker  # the engine that built and pushed the images (on one machine: the same)
    engines: dict[str, str]  # node ID -> DOCKER_HOST of that node's engine; empty: docker itself


@pytest.fixture(scope="session")
def images(docker: Docker) -> None:
    build(REPO, docker, Reporter(), mode="offline")


@pytest.fixture(scope="session")
def running(request: pytest.FixtureRequest, env: str, docker: Docker) -> Iterator[Running]:
    deployed_from = request.config.getoption("--deployed-from")
    if deployed_from:
        yield _already_running(Path(deployed_from), env, docker)
        return
    request.getfixturevalue("images")
    context = request.config.getoption("--context")
    port = str(free_port())
    repo = throwaway_environments(REPO, SUFFIX, {env: {"LMS_GATEWAY_PORT": port}}, context=context)
    if load_environment(repo, env, model_services(repo)).target.kind == "compose":
        yield from _compose_env(request, env, docker, repo, port)
        return
    if not context:
        request.getfixturevalue("swarm")  # the local engine; a context names a swarm already
    request.getfixturevalue("swarm_secrets")
    try:
        deploy(Context(repo, docker, Reporter(), "offline"), env)
        model = resolve(repo, docker, env)
        if context:
            target = docker.for_target(context, None)
            address = service_node_address(target, f"{model.project}_gateway")
            yield Running(model, repo, f"http://{address}:{port}", target, docker, node_engines(REPO, target))
        else:
            yield Running(model, repo, f"http://127.0.0.1:{port}", docker, docker, {})
    finally:
        down(repo, docker, env, True, Reporter())


def _already_running(folder: Path, env: str, docker: Docker) -> Running:
    """An environment someone else deployed from folder's files (checked at session start), on its own
    engine and port."""
    repo = replace(REPO, env_root=folder)
    environment = load_environment(repo, env, model_services(repo))
    model = resolve(repo, docker, env)
    port = environment.values["LMS_GATEWAY_PORT"]
    target = environment.target
    if target.kind == "swarm" and (target.context or target.host):
        engine = docker.for_target(target.context, target.host)
        address = service_node_address(engine, f"{model.project}_gateway")
        return Running(model, repo, f"http://{address}:{port}", engine, docker, node_engines(REPO, engine))
    return Running(model, repo, f"http://127.0.0.1:{port}", docker, docker, {})


def _compose_env(request: pytest.FixtureRequest, env: str, docker: Docker, repo: Repo, port: str) -> Iterator[Running]:
    """dev through pytest-docker: its fixtures are given lmsops's resolved model and project name."""
    model = resolve(repo, docker, env)
    model.path(repo).write_text(model.text)
    request.config.stash[MODEL_KEY] = model
    request.getfixturevalue("docker_services")
    yield Running(model, repo, f"http://127.0.0.1:{port}", docker, docker, {})


MODEL_KEY = pytest.StashKey[Model]()


@pytest.fixture(scope="session")
def compose_model(pytestconfig: pytest.Config) -> Model:
    return pytestconfig.stash[MODEL_KEY]


@pytest.fixture(scope="session")
def docker_compose_file(pytestconfig: pytest.Config) -> list[str]:
    return [str(pytestconfig.stash[MODEL_KEY].path(REPO))]


@pytest.fixture(scope="session")
def docker_compose_project_name(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[MODEL_KEY].project
