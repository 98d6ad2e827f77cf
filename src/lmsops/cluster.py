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

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, seconds
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
_NODE_FLAGS = [
    *[arg for cap in ("SYS_ADMIN", "NET_ADMIN", "MKNOD", "SYS_PTRACE", "NET_RAW", "SYS_MODULE", "IPC_LOCK")
      for arg in ("--cap-add", cap)],
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--tmpfs", "/run", "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
]  # fmt: skip


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
    if docker.run("network", "inspect", NETWORK, check=False).returncode == 0:
        raise ConfigError(f"a cluster is already up (network {NETWORK}); `nox -s cluster -- down` first")
    ctx.build_only([IMAGE])
    reference = ctx.reference(IMAGE)
    registry_up(ctx, registry)
    _, port = split_address(registry)
    docker.run("network", "create", "--label", f"{LABEL}=1", NETWORK)
    docker.run("network", "connect", "--alias", "registry", NETWORK, REGISTRY_CONTAINER)
    sockets = socket_dir(repo)
    shutil.rmtree(sockets, ignore_errors=True)
    for number in range(1, nodes + 1):
        folder = sockets / node_name(number)
        folder.mkdir(parents=True)
        docker.run(
            "run", "--detach", "--name", node_name(number), "--hostname", node_name(number),
            "--network", NETWORK, "--label", f"{LABEL}=1", "--pull", "never", *_NODE_FLAGS,
            "--volume", f"{node_name(number)}:/var/lib/docker", "--volume", f"{folder}:/var/run/lmsops-host",
            "--env", f"LMS_FORWARD={port}=registry:5000", reference,
        )  # fmt: skip
    for number in range(1, nodes + 1):
        _wait_for_engine(docker, node_name(number))
    manager = _address(docker, node_name(1))
    docker.run("exec", node_name(1), "docker", "swarm", "init", "--advertise-addr", manager)
    token = docker.run("exec", node_name(1), "docker", "swarm", "join-token", "--quiet", "worker").stdout.strip()
    for number in range(2, nodes + 1):
        docker.run("exec", node_name(number), "docker", "swarm", "join", "--token", token, f"{manager}:2377")
    docker.run("context", "rm", "--force", CONTEXT, check=False)
    endpoint = f"host=unix://{sockets / node_name(1) / 'docker.sock'}"
    docker.run("context", "create", CONTEXT, "--description", "lmsops test cluster (manager)", "--docker", endpoint)
    found = cluster_nodes(docker)
    report.say(
        f"cluster: {len(found)} node(s) up in {seconds(started)} ({', '.join(n.name for n in found)}); "
        f"Docker context {CONTEXT}, registry {registry} on every node"
    )
    return found


def cluster_nodes(docker: Docker) -> list[Node]:
    names = docker.run("ps", "--filter", f"label={LABEL}", "--format", "{{.Names}}", check=False).stdout.split()
    return [Node(name, _address(docker, name), name == node_name(1)) for name in sorted(names)]


def cluster_down(repo: Repo, docker: Docker, report: Reporter) -> None:
    names = docker.run(
        "ps", "--all", "--filter", f"label={LABEL}", "--format", "{{.Names}}", check=False
    ).stdout.split()
    if names:
        docker.run("rm", "--force", "--volumes", *names, check=False)
        docker.run("volume", "rm", "--force", *names, check=False)
    docker.run("network", "disconnect", "--force", NETWORK, REGISTRY_CONTAINER, check=False)
    docker.run("network", "rm", NETWORK, check=False)
    docker.run("context", "rm", "--force", CONTEXT, check=False)
    shutil.rmtree(socket_dir(repo), ignore_errors=True)
    report.say(f"cluster: removed {len(names)} node(s), network {NETWORK} and context {CONTEXT}")


def _address(docker: Docker, name: str) -> str:
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    return docker.run("inspect", "--format", template, name).stdout.split()[0]


def _wait_for_engine(docker: Docker, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while docker.run("exec", name, "docker", "info", "--format", "{{.ID}}", check=False).returncode != 0:
        if time.monotonic() > deadline:
            logs = docker.run("logs", "--tail", "10", name, check=False).output
            raise PrerequisiteError(f"{name}: its Docker engine did not start within {timeout:.0f} s:\n{logs}")
        time.sleep(0.5)


def node_engines(repo: Repo, manager: Docker) -> dict[str, str]:
    """Node ID -> DOCKER_HOST of that node's own engine, for the nodes of lmsops's cluster (their
    sockets are under .lmsops/cluster/); checks that look inside a task's container need its node."""
    engines = {}
    for line in manager.run("node", "ls", "--format", "{{.ID}} {{.Hostname}}").stdout.splitlines():
        node_id, _, hostname = line.partition(" ")
        socket = socket_dir(repo) / hostname / "docker.sock"
        if socket.exists():
            engines[node_id] = f"unix://{socket}"
    return engines


def service_node_address(manager: Docker, service: str) -> str:
    """The address of the node running a task of service (where its host-mode ports answer)."""
    for task in manager.service_tasks(service):
        if running_task(task):
            address = manager.run("node", "inspect", "--format", "{{.Status.Addr}}", str(task["NodeID"])).stdout
            return address.strip()
    raise ConfigError(f"{service}: no running task, so no node to reach it on")
