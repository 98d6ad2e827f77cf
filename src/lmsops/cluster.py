"""`nox -s cluster -- up|down`: a Swarm of several nodes on one machine, for staging-like tests.

Each node is a container of the `swarm-node` base image (Docker-in-Docker, no --privileged) on the
network `lmsops-cluster`; node 1 is the manager, the others join as workers. lmsops's loopback
registry joins the network as `registry`, and every node forwards its own 127.0.0.1:<port> to it,
so `127.0.0.1:5000/lmsops/...@sha256:...` names the same image on the host and on every node.
The manager's engine is reached through a socket in .lmsops/cluster/ and the Docker context
`lmsops-cluster`: point `target.context` of an environment at it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count, seconds
from lmsops.core.swarmapi import running_task
from lmsops.images.context import Context
from lmsops.releases.registry import CONTAINER as REGISTRY_CONTAINER
from lmsops.releases.registry import registry_up, split_address

IMAGE = "swarm-node"
NETWORK = "lmsops-cluster"
CONTEXT = "lmsops-cluster"
LABEL = "org.lmsops.cluster"
NODE_PREFIX = "lmsops-node-"
# What Docker-in-Docker needs on this machine kind (docs/environments.md, the cluster): not --privileged.
_NODE_CAPABILITIES = ("SYS_ADMIN", "NET_ADMIN", "MKNOD", "SYS_PTRACE", "NET_RAW", "SYS_MODULE", "IPC_LOCK")
_NODE_SECURITY = ("seccomp=unconfined", "apparmor=unconfined")
_NODE_VOLUMES = ("/sys/fs/cgroup:/sys/fs/cgroup:rw",)


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    manager: bool


def socket_dir(repo: Repo) -> Path:
    return repo.work / "cluster"


def node_name(number: int) -> str:
    return f"{NODE_PREFIX}{number}"


def cluster_up(ctx: Context, nodes: int = 3, registry: str = "127.0.0.1:5000") -> list[Node]:
    repo, docker, report = ctx.repo, ctx.docker, ctx.report
    if nodes < 1:
        raise ConfigError("a cluster needs at least one node")
    started = time.monotonic()
    if docker.network_exists(NETWORK):
        raise ConfigError(f"a cluster is already up (network {NETWORK}); `nox -s cluster -- down` first")
    ctx.build_only([IMAGE])
    reference = ctx.reference(IMAGE)
    registry_up(ctx, registry)
    _, port = split_address(registry)
    docker.network_create(NETWORK, {LABEL: "1"})
    docker.network_connect(NETWORK, REGISTRY_CONTAINER, alias="registry")
    sockets = socket_dir(repo)
    shutil.rmtree(sockets, ignore_errors=True)
    for number in range(1, nodes + 1):
        folder = sockets / node_name(number)
        folder.mkdir(parents=True)
        docker.run_detached(
            reference,
            name=node_name(number),
            hostname=node_name(number),
            network=NETWORK,
            labels={LABEL: "1"},
            env={"LMS_FORWARD": f"{port}=registry:5000"},
            volumes=[f"{node_name(number)}:/var/lib/docker", f"{folder}:/var/run/lmsops-host", *_NODE_VOLUMES],
            cap_add=_NODE_CAPABILITIES,
            security_opt=_NODE_SECURITY,
            tmpfs=["/run"],
        )
    for number in range(1, nodes + 1):
        _wait_for_engine(docker, node_name(number))
    manager = _address(docker, node_name(1))
    _in_node(docker, node_name(1), "swarm", "init", "--advertise-addr", manager)
    token = _in_node(docker, node_name(1), "swarm", "join-token", "--quiet", "worker").stdout.strip()
    for number in range(2, nodes + 1):
        _in_node(docker, node_name(number), "swarm", "join", "--token", token, f"{manager}:2377")
    endpoint = f"unix://{sockets / node_name(1) / 'docker.sock'}"
    docker.context_create(CONTEXT, "lmsops test cluster (manager)", endpoint)
    found = cluster_nodes(docker)
    report.say(
        f"cluster: {count(len(found), 'node')} up in {seconds(started)} ({', '.join(n.name for n in found)}); "
        f"Docker context {CONTEXT}, registry {registry} on every node"
    )
    return found


def cluster_nodes(docker: Docker) -> list[Node]:
    names = docker.container_names(LABEL, running_only=True)
    return [Node(name, _address(docker, name), name == node_name(1)) for name in names]


def cluster_down(repo: Repo, docker: Docker, report: Reporter) -> None:
    names = docker.container_names(LABEL)
    if names:
        docker.remove_containers(names)
        docker.volume_rm(names)  # each node's /var/lib/docker, a volume named after it
    docker.network_disconnect(NETWORK, REGISTRY_CONTAINER)
    docker.network_rm(NETWORK)
    docker.context_rm(CONTEXT)
    shutil.rmtree(socket_dir(repo), ignore_errors=True)
    report.say(f"cluster: removed {count(len(names), 'node')}, network {NETWORK} and context {CONTEXT}")


def _address(docker: Docker, name: str) -> str:
    return docker.container_addresses(name)[0]


def _wait_for_engine(docker: Docker, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while docker.exec(name, "docker", "info", "--format", "{{.ID}}").returncode != 0:
        if time.monotonic() > deadline:
            logs = docker.logs(name, tail=10, check=False)
            raise PrerequisiteError(f"{name}: its Docker engine did not start within {timeout:.0f} s:\n{logs}")
        time.sleep(0.5)


def node_engines(repo: Repo, manager: Docker) -> dict[str, str]:
    """Node ID -> DOCKER_HOST of that node's own engine, for the nodes of lmsops's cluster (their
    sockets are under .lmsops/cluster/); checks that look inside a task's container need its node."""
    engines = {}
    for node_id, hostname in manager.node_hostnames().items():
        socket = socket_dir(repo) / hostname / "docker.sock"
        if socket.exists():
            engines[node_id] = f"unix://{socket}"
    return engines


def service_node_address(manager: Docker, service: str) -> str:
    """The address of the node running a task of service (where its host-mode ports answer)."""
    for task in manager.service_tasks(service):
        if running_task(task):
            return manager.node_address(str(task["NodeID"]))
    raise ConfigError(f"{service}: no running task, so no node to reach it on")


def _in_node(docker: Docker, node: str, *argv: str) -> proc.Result:
    """Run the docker CLI inside a node (its own engine); fail with its output when it fails."""
    result = docker.exec(node, "docker", *argv)
    if result.returncode != 0:
        raise PrerequisiteError(f"{node}: docker {' '.join(argv[:2])} failed: {result.output.strip()}")
    return result
