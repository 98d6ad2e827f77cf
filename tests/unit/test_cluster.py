"""lmsops.cluster, `nox -s cluster -- up|down`: the Docker-in-Docker nodes it starts (and how: no
--privileged), the swarm they form, the context that reaches the manager, what `down` removes, and the
node lookups the checks use. The engine is scripted; the registry is another test's (test_registry)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lmsops import cluster
from lmsops.cluster import Node, cluster_down, cluster_nodes, cluster_up, node_engines, service_node_address
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.images.context import Context
from tests.unit.adapter_fakes import (
    Answer,
    FakeClock,
    ScriptedEngine,
    StubContext,
    fake_clock,
    reporter,
    scripted_engine,
)

CONVERGENCE = json.loads((Path(__file__).parent / "data" / "convergence" / "swarm.json").read_text())
ADDRESSES = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"  # the container's address on each network
TOKEN = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"  # noqa: S105 (made up)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    engine = scripted_engine(monkeypatch)
    engine.answer("network", "inspect", returncode=1, stderr="Error: No such network: lmsops-cluster")
    engine.on(
        "container", "inspect", "--format", handler=lambda call: Answer(f"172.20.0.{int(call.args[-1][-1]) + 1} \n")
    )
    engine.answer("exec", "lmsops-node-1", "docker", "swarm", "join-token", stdout=f"{TOKEN}\n")
    return engine


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return fake_clock(monkeypatch, cluster)


@pytest.fixture
def registries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []

    def registry_up(ctx: Context, address: str) -> None:
        started.append(address)

    monkeypatch.setattr(cluster, "registry_up", registry_up)
    return started


def running_nodes(engine: ScriptedEngine, *names: str) -> None:
    engine.answer("ps", stdout="".join(f"{name}\n" for name in names))


def node_argv(repo: Repo, number: int, port: int) -> list[str]:
    name = f"lmsops-node-{number}"
    return [
        "run", "--detach", "--name", name, "--hostname", name, "--network", "lmsops-cluster",
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "MKNOD", "--cap-add", "SYS_PTRACE",
        "--cap-add", "NET_RAW", "--cap-add", "SYS_MODULE", "--cap-add", "IPC_LOCK",
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--tmpfs", "/run",
        "--volume", f"{name}:/var/lib/docker", "--volume", f"{repo.work / 'cluster' / name}:/var/run/lmsops-host",
        "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--label", "org.lmsops.cluster=1",
        "--env", f"LMS_FORWARD={port}=registry:5000", "--pull", "never", "lmsops/swarm-node:stub",
    ]  # fmt: skip


def test_cluster_up_starts_the_nodes_forms_the_swarm_and_points_a_context_at_the_manager(
    engine: ScriptedEngine, clock: FakeClock, registries: list[str], repo: Repo
) -> None:
    running_nodes(engine, "lmsops-node-1", "lmsops-node-2", "lmsops-node-3")
    stale = repo.work / "cluster" / "lmsops-node-9" / "docker.sock"
    stale.parent.mkdir(parents=True)
    stale.write_text("left by an earlier cluster")
    report, out = reporter()
    ctx = StubContext(repo, Docker(), report)
    nodes = cluster_up(ctx, nodes=3, registry="127.0.0.1:5001")
    assert nodes == [
        Node("lmsops-node-1", "172.20.0.2", True), Node("lmsops-node-2", "172.20.0.3", False),
        Node("lmsops-node-3", "172.20.0.4", False),
    ]  # fmt: skip
    assert (ctx.built_only, registries) == ([["swarm-node"]], ["127.0.0.1:5001"])
    sockets = repo.work / "cluster"
    in_node = "exec", "docker"
    assert engine.verbs == [
        ["network", "inspect", "lmsops-cluster"],
        ["network", "create", "--label", "org.lmsops.cluster=1", "lmsops-cluster"],
        ["network", "connect", "--alias", "registry", "lmsops-cluster", "lmsops-registry"],
        node_argv(repo, 1, 5001), node_argv(repo, 2, 5001), node_argv(repo, 3, 5001),
        *[["exec", f"lmsops-node-{n}", "docker", "info", "--format", "{{.ID}}"] for n in (1, 2, 3)],
        ["container", "inspect", "--format", ADDRESSES, "lmsops-node-1"],
        [in_node[0], "lmsops-node-1", in_node[1], "swarm", "init", "--advertise-addr", "172.20.0.2"],
        [in_node[0], "lmsops-node-1", in_node[1], "swarm", "join-token", "--quiet", "worker"],
        *[[in_node[0], f"lmsops-node-{n}", in_node[1], "swarm", "join", "--token", TOKEN, "172.20.0.2:2377"]
          for n in (2, 3)],
        ["context", "rm", "--force", "lmsops-cluster"],
        ["context", "create", "lmsops-cluster", "--description", "lmsops test cluster (manager)",
         "--docker", f"host=unix://{sockets / 'lmsops-node-1' / 'docker.sock'}"],
        ["ps", "--filter", "label=org.lmsops.cluster", "--format", "{{.Names}}"],
        *[["container", "inspect", "--format", ADDRESSES, f"lmsops-node-{n}"] for n in (1, 2, 3)],
    ]  # fmt: skip
    assert sorted(p.name for p in sockets.iterdir()) == ["lmsops-node-1", "lmsops-node-2", "lmsops-node-3"]
    assert clock.sleeps == [], "every engine answered at once"
    assert "cluster: 3 nodes up in" in out.getvalue()
    assert "Docker context lmsops-cluster, registry 127.0.0.1:5001 on every node" in out.getvalue()


def test_a_single_node_cluster_is_a_manager_without_workers(
    engine: ScriptedEngine, clock: FakeClock, registries: list[str], repo: Repo
) -> None:
    running_nodes(engine, "lmsops-node-1")
    assert cluster_up(StubContext(repo, Docker(), reporter()[0]), nodes=1) == [
        Node("lmsops-node-1", "172.20.0.2", True)
    ]
    assert not any(verb[3:5] == ["swarm", "join"] for verb in engine.verbs)


def test_a_cluster_needs_a_node(engine: ScriptedEngine, repo: Repo) -> None:
    with pytest.raises(ConfigError, match="a cluster needs at least one node"):
        cluster_up(StubContext(repo, Docker(), reporter()[0]), nodes=0)
    assert engine.calls == []


def test_a_second_cluster_is_refused_before_anything_is_built(
    engine: ScriptedEngine, registries: list[str], repo: Repo
) -> None:
    engine.forget("network", "inspect")
    engine.answer("network", "inspect", returncode=0)
    ctx = StubContext(repo, Docker(), reporter()[0])
    with pytest.raises(
        ConfigError, match=r"a cluster is already up \(network lmsops-cluster\); `nox -s cluster -- down`"
    ):
        cluster_up(ctx)
    assert (ctx.built_only, registries, len(engine.calls)) == ([], [], 1)


def test_a_node_whose_engine_answers_late_is_waited_for(
    engine: ScriptedEngine, clock: FakeClock, registries: list[str], repo: Repo
) -> None:
    running_nodes(engine, "lmsops-node-1")
    for returncode in (1, 1, 0):
        engine.answer("exec", "lmsops-node-1", "docker", "info", returncode=returncode, stderr="Cannot connect")
    cluster_up(StubContext(repo, Docker(), reporter()[0]), nodes=1)
    assert clock.sleeps == [0.5, 0.5]


def test_a_node_whose_engine_never_starts_fails_after_a_minute_with_its_logs(
    engine: ScriptedEngine, clock: FakeClock, registries: list[str], repo: Repo
) -> None:
    engine.answer("exec", "lmsops-node-1", "docker", "info", returncode=1, stderr="Cannot connect")
    engine.answer("logs", stdout="failed to mount overlay: operation not permitted\n")
    with pytest.raises(PrerequisiteError) as failed:
        cluster_up(StubContext(repo, Docker(), reporter()[0]), nodes=2)
    assert str(failed.value) == (
        "lmsops-node-1: its Docker engine did not start within 60 s:\nfailed to mount overlay: operation not permitted"
    )
    assert engine.verbs[-1] == ["logs", "--tail", "10", "lmsops-node-1"]
    assert 60 <= sum(clock.sleeps) <= 60.5


def test_a_node_that_cannot_join_fails_with_what_its_docker_said(
    engine: ScriptedEngine, clock: FakeClock, registries: list[str], repo: Repo
) -> None:
    engine.answer("exec", "lmsops-node-2", "docker", "swarm", "join", returncode=1, stderr="  timeout joining\n")
    with pytest.raises(PrerequisiteError, match=r"^lmsops-node-2: docker swarm join failed: timeout joining$"):
        cluster_up(StubContext(repo, Docker(), reporter()[0]), nodes=2)
    assert not any(verb[:1] == ["context"] for verb in engine.verbs), "no context for a swarm that did not form"


def test_cluster_nodes_are_the_running_nodes_node_1_the_manager(engine: ScriptedEngine) -> None:
    running_nodes(engine, "lmsops-node-2", "lmsops-node-1")
    assert cluster_nodes(Docker()) == [
        Node("lmsops-node-1", "172.20.0.2", True),
        Node("lmsops-node-2", "172.20.0.3", False),
    ]
    assert engine.verbs[0] == ["ps", "--filter", "label=org.lmsops.cluster", "--format", "{{.Names}}"]


def test_cluster_down_removes_nodes_their_volumes_the_network_the_context_and_the_sockets(
    engine: ScriptedEngine, repo: Repo
) -> None:
    running_nodes(engine, "lmsops-node-1", "lmsops-node-2")
    (repo.work / "cluster" / "lmsops-node-1").mkdir(parents=True)
    report, out = reporter()
    cluster_down(repo, Docker(), report)
    assert engine.verbs == [
        ["ps", "--all", "--filter", "label=org.lmsops.cluster", "--format", "{{.Names}}"],
        ["rm", "--force", "--volumes", "lmsops-node-1", "lmsops-node-2"],
        ["volume", "rm", "lmsops-node-1", "lmsops-node-2"],
        ["network", "disconnect", "--force", "lmsops-cluster", "lmsops-registry"],
        ["network", "rm", "lmsops-cluster"],
        ["context", "rm", "--force", "lmsops-cluster"],
    ]
    assert not (repo.work / "cluster").exists()
    assert out.getvalue() == "cluster: removed 2 nodes, network lmsops-cluster and context lmsops-cluster\n"


def test_cluster_down_without_nodes_still_removes_the_rest(engine: ScriptedEngine, repo: Repo) -> None:
    cluster_down(repo, Docker(), reporter()[0])
    assert [verb[:2] for verb in engine.verbs] == [
        ["ps", "--all"], ["network", "disconnect"], ["network", "rm"], ["context", "rm"],
    ]  # fmt: skip


def test_node_engines_are_the_sockets_of_the_nodes_this_machine_runs(engine: ScriptedEngine, repo: Repo) -> None:
    engine.answer("node", "ls", stdout="n1 lmsops-node-1\nn2 lmsops-node-2\nn9 far-away-node\n")
    socket = repo.work / "cluster" / "lmsops-node-1" / "docker.sock"
    socket.parent.mkdir(parents=True)
    socket.touch()
    assert node_engines(repo, Docker(context="lmsops-cluster")) == {"n1": f"unix://{socket}"}


def tasks_on_nodes() -> list[dict[str, Any]]:
    """The recorded tasks of a service during a rollback, each on its own node."""
    tasks: list[dict[str, Any]] = copy.deepcopy(CONVERGENCE["rollback_started"]["tasks"])
    for number, task in enumerate(tasks):
        task["NodeID"] = f"node{number}"
    return tasks


def test_a_service_is_reached_on_the_node_of_its_first_running_task(engine: ScriptedEngine) -> None:
    tasks = tasks_on_nodes()
    first_running = next(task for task in tasks if task["Status"]["State"] == "running")
    assert tasks.index(first_running) > 0, "the data must start with tasks that do not run"
    engine.answer("service", "ps", stdout="".join(f"{task['ID']}\n" for task in tasks))
    engine.answer("inspect", stdout=json.dumps(tasks))
    engine.answer("node", "inspect", stdout="172.20.0.3\n")
    assert service_node_address(Docker(), "lms-staging_gateway") == "172.20.0.3"
    assert engine.verbs[-1] == ["node", "inspect", "--format", "{{.Status.Addr}}", first_running["NodeID"]]


def test_a_service_without_a_running_task_has_no_node_to_reach(engine: ScriptedEngine) -> None:
    stopped = [task for task in tasks_on_nodes() if task["Status"]["State"] != "running"]
    engine.answer("service", "ps", stdout="".join(f"{task['ID']}\n" for task in stopped))
    engine.answer("inspect", stdout=json.dumps(stopped))
    with pytest.raises(ConfigError, match=r"^lms-staging_gateway: no running task, so no node to reach it on$"):
        service_node_address(Docker(), "lms-staging_gateway")
