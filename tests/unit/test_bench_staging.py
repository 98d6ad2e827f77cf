"""The staging benchmark (lmsops.bench.staging): `lmsops deploy staging` after a change to the catalog
against Swarm's own `docker service update --image` of it, in alternating rounds on a throwaway
staging, reduced to medians; and the engine put back as it was found (the swarm, the registry, the
images of the bench's changes, the secrets). The deploy, the engine and the clock are fakes; the
throwaway environment files, the secrets and the change to the source are real."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest

from lmsops.bench import build as bench_build
from lmsops.bench import staging
from lmsops.bench.build import CHANGE_FILE
from lmsops.bench.staging import ROUNDS, bench_staging
from lmsops.bench.throwaway import secret_variables
from lmsops.core import proc
from lmsops.core.errors import DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.context import Context
from tests.unit.cli_fakes import Clock, EngineDocker, Recorder, environment_file
from tests.unit.conftest import PROJECT

SERVICE = "lms-staging-bench_catalog"
OLD_TAG = "lmsops/catalog:0.1.0-before"  # on the engine before the bench: kept


class SwarmDocker(EngineDocker):
    """An engine with a swarm (or none), the registry (or not) and the bench's stack on it."""

    def __init__(self, clock: Clock, log: list[str], *, swarm: str, registry: bool) -> None:
        super().__init__()
        self.clock, self.log, self.swarm, self.registry = clock, log, swarm, registry
        self.catalog_image = ""
        self.update_seconds = iter([30.0, 31.0, 29.0])
        self.left_swarm = False
        self.add_image(OLD_TAG)
        self.add_image("lmsops/gateway:0.1.0-before")

    def swarm_state(self) -> tuple[str, bool]:
        return self.swarm, self.swarm == "active"

    def container_exists(self, name: str) -> bool:
        return self.registry and name == "lmsops-registry"

    def stack_services(self, stack: str) -> list[dict[str, Any]]:
        assert stack == "lms-staging-bench"
        gateway = {"Spec": {"Name": f"{stack}_gateway", "TaskTemplate": {"ContainerSpec": {"Image": "gw"}}}}
        catalog = {"Spec": {"Name": SERVICE, "TaskTemplate": {"ContainerSpec": {"Image": self.catalog_image}}}}
        return [gateway, catalog]

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result:
        assert args[:5] == ("service", "update", "--quiet", "--image", args[4]) and args[5] == SERVICE, args
        self.log.append(f"service update --image {args[4]}")
        self.catalog_image = args[4]
        self.clock.advance(next(self.update_seconds))
        return super().run(*args)

    def swarm_leave(self) -> None:
        self.left_swarm = True


class Deploys:
    """`lmsops deploy staging`: builds the changed catalog (a new tag) and runs it on the stack."""

    def __init__(self, repo: Repo, docker: SwarmDocker, clock: Clock, log: list[str], secrets: set[str]) -> None:
        self.repo, self.docker, self.clock, self.log, self.secrets = repo, docker, clock, log, secrets
        self.seconds = iter([100.0, 40.0, 45.0, 38.0])  # the first makes the stack: not measured
        self.contexts: list[tuple[Context, str, dict[str, Any]]] = []
        self.secrets_set: list[bool] = []
        self.fail_at: int | None = None

    def __call__(self, ctx: Context, env: str, **kwargs: Any) -> None:
        number = len(self.contexts)
        self.contexts.append((ctx, env, kwargs))
        change = (self.repo.services / "catalog" / "app" / CHANGE_FILE).read_text()
        self.log.append(f"deploy: {change.split('(')[1].rstrip(')' + chr(10))}")
        self.secrets_set.append(all(name in os.environ for name in self.secrets))
        if number == self.fail_at:
            raise DeployError("catalog did not converge")
        self.docker.add_image(f"lmsops/catalog:0.1.0-change{number}")
        self.docker.catalog_image = f"127.0.0.1:5000/lmsops/catalog@sha256:{number}"
        self.clock.advance(next(self.seconds))


class Run:
    def __init__(self, repo: Repo, docker: SwarmDocker, deploys: Deploys, log: list[str]) -> None:
        self.repo, self.docker, self.deploys, self.log = repo, docker, deploys, log
        self.down, self.registry_down = Recorder(), Recorder()


@functools.cache
def secret_names() -> frozenset[str]:
    """LMSOPS_STAGING_..., LMSOPS_PRODUCTION_...: the variables the environments read secrets from."""
    return frozenset(secret_variables(PROJECT))


FOUND = pytest.mark.parametrize(
    "bench", [("inactive", False), ("active", True)], ids=["no swarm, no registry", "swarm and registry"], indirect=True
)


@pytest.fixture
def bench(project: Repo, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Run]:
    """The bench on an engine in no swarm and without the registry, unless the test says otherwise."""
    swarm, registry = getattr(request, "param", ("inactive", False))
    clock = Clock()
    monkeypatch.setattr(bench_build, "time", clock)
    (project.services / "catalog" / "app").mkdir()
    log: list[str] = []
    docker = SwarmDocker(clock, log, swarm=swarm, registry=registry)
    secrets = set(secret_names())
    assert secrets
    deploys = Deploys(project, docker, clock, log, secrets)
    for name in secrets:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(staging, "free_port", lambda: 18700)
    monkeypatch.setattr(staging, "deploy", deploys)
    fakes = Run(project, docker, deploys, log)
    monkeypatch.setattr(staging, "down", fakes.down)
    monkeypatch.setattr(staging, "registry_down", fakes.registry_down)
    yield fakes


def run(bench: Run) -> staging.StagingBench:
    return bench_staging(bench.repo, bench.docker, Reporter(io.StringIO()))


def test_lmsops_deploy_alternates_with_swarms_own_update_and_takes_medians(bench: Run) -> None:
    result = run(bench)
    first = "127.0.0.1:5000/lmsops/catalog@sha256:0"
    assert bench.log == ["deploy: first deploy"] + [
        entry for round_ in range(ROUNDS) for entry in (f"deploy: round {round_}", f"service update --image {first}")
    ]  # Swarm alone is asked to run the image the service ran before the round's deploy
    assert (result.deploy_seconds, result.service_update_seconds) == (40.0, 30.0)


def test_each_deploy_is_a_users_deploy_of_the_throwaway_staging(bench: Run) -> None:
    run(bench)
    assert len(bench.deploys.contexts) == 1 + ROUNDS
    contexts = {id(ctx) for ctx, _, _ in bench.deploys.contexts}
    assert len(contexts) == 1 + ROUNDS  # its own context each time, as a user's command has
    ctx, env, kwargs = bench.deploys.contexts[0]
    assert (env, kwargs, ctx.mode, ctx.docker) == ("staging", {"init_swarm": True}, "offline", bench.docker)
    copy = ctx.repo
    data = environment_file(copy, "staging")
    assert (data["target"]["name"], data["target"]["confirm"]) == ("lms-staging-bench", False)
    assert data["variables"]["LMS_GATEWAY_PORT"] == 18700


def test_the_throwaway_secrets_exist_during_the_deploys_only(bench: Run) -> None:
    run(bench)
    assert bench.deploys.secrets_set == [True] * (1 + ROUNDS)
    assert not any(name in os.environ for name in bench.deploys.secrets)


@FOUND
def test_the_engine_is_put_back_as_it_was_found(bench: Run) -> None:
    run(bench)
    copy = bench.deploys.contexts[0][0].repo
    assert bench.down.call.args[:4] == (copy, bench.docker, "staging", True)
    assert sorted(bench.docker.removed) == [f"lmsops/catalog:0.1.0-change{n}" for n in range(1 + ROUNDS)]
    assert OLD_TAG in bench.docker.images and "lmsops/gateway:0.1.0-before" in bench.docker.images
    assert not (bench.repo.services / "catalog" / "app" / CHANGE_FILE).exists()
    if bench.docker.registry:  # the registry and the swarm it found are left alone
        assert (bench.registry_down.calls, bench.docker.left_swarm) == ([], False)
    else:  # what it had to make is taken away again, the registry with its volume
        assert bench.registry_down.call.args[0] == bench.docker
        assert bench.registry_down.call.kwargs == {"volumes": True}
        assert bench.docker.left_swarm is True


@FOUND
def test_a_failed_deploy_still_puts_the_engine_back(bench: Run) -> None:
    bench.deploys.fail_at = 2  # the second measured round
    with pytest.raises(DeployError, match="catalog did not converge"):
        run(bench)
    assert bench.down.call.args[2:4] == ("staging", True)
    assert sorted(bench.docker.removed) == ["lmsops/catalog:0.1.0-change0", "lmsops/catalog:0.1.0-change1"]
    assert not (bench.repo.services / "catalog" / "app" / CHANGE_FILE).exists()
    assert not any(name in os.environ for name in bench.deploys.secrets)
    assert bench.docker.left_swarm is not bench.docker.registry
