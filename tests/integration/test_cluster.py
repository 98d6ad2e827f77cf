"""Staging on a real multi-node Swarm: four Docker-in-Docker nodes on this machine (lmsops cluster).

The nodes pull the pushed digests from lmsops's loopback registry; the host reaches the gateway
on the node that runs it, over the cluster's own Docker network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest

from lmsops.cluster import CONTEXT, Node, cluster_down, cluster_up
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.core.swarmapi import running_task
from lmsops.deploy.apply import deploy
from lmsops.images.context import Context
from lmsops.releases.publish import publish
from lmsops.resilience.load import LoadShape
from lmsops.resilience.run import CLUSTER_NODES, measure_node_loss, seed_course, tasks_by_node
from lmsops.resilience.session import Session
from lmsops.targets.status import compare, down
from tests.integration.conformance_run import run_conformance
from tests.integration.conftest import Renamed, renamed

STACK = "lms-staging-cl"


@dataclass(frozen=True)
class Cluster:
    nodes: list[Node]
    envs: Renamed  # staging renamed lms-staging-cl, deployed to the cluster's manager (target.context)
    manager: Docker

    def addresses(self) -> list[str]:
        return [node.address for node in self.nodes]


@pytest.fixture(scope="module")
def cluster(repo: Repo, docker: Docker, swarm_secrets: None) -> Iterator[Cluster]:
    """The loopback registry the nodes pull from is prepared for the whole run (tests/engine_state.py)."""
    cluster_down(repo, docker, Reporter())  # what an interrupted earlier run left
    nodes = cluster_up(Context(repo, docker, Reporter(), "offline"), nodes=CLUSTER_NODES)
    envs = renamed("-cl", ["staging"], context=CONTEXT)
    try:
        deploy(Context(envs.repo, docker, Reporter(), "offline"), "staging")
        yield Cluster(nodes, envs, docker.for_target(CONTEXT, None))
    finally:
        down(envs.repo, docker, "staging", True, Reporter())
        cluster_down(repo, docker, Reporter())
    left = docker.run("ps", "--all", "--quiet", "--filter", "label=org.lmsops.cluster").stdout.split()
    assert not left, "no node container left"
    assert not docker.run("volume", "ls", "--quiet", "--filter", "name=lmsops-node-").stdout.split(), "no node volume"
    assert docker.run("network", "inspect", "lmsops-cluster", check=False).returncode != 0


def get(url: str) -> int:
    if not url.startswith("http://"):
        raise ValueError(url)
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - the cluster's own network
            return int(response.status)
    except Exception:
        return 0


def through_gateway(cluster: Cluster, path: str) -> int:
    """Like a load balancer in front of the nodes: the first node whose gateway answers."""
    port = cluster.envs.ports["staging"]
    for address in cluster.addresses():
        status = get(f"http://{address}:{port}{path}")
        if status:
            return status
    return 0


def test_staging_runs_by_digest_spread_over_the_nodes_and_is_not_drifted(
    repo: Repo, docker: Docker, cluster: Cluster
) -> None:
    placed = tasks_by_node(cluster.manager, STACK)
    assert len({node for hosts in placed.values() for node in hosts}) >= 2, placed
    assert len(set(placed["catalog"])) == 2 or len(set(placed["enrollment"])) == 2, placed
    plan = {image.name: image.reference for image in Context(repo, docker).plan()}
    for service in cluster.manager.stack_services(STACK):
        image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        image_name = image.split("@", 1)[0].rsplit("/", 1)[-1]  # gateway-routes runs the gateway image
        digest = docker.registry_digest(f"127.0.0.1:5000/{plan[image_name]}")  # what the registry holds
        assert digest is not None and image.endswith(f"@{digest}"), image
    assert compare(cluster.envs.repo, docker, "staging") == []
    for path in ("/catalog/readyz", "/enrollment/readyz", "/healthz"):
        assert through_gateway(cluster, path) == 200, path


def running_tasks(manager: Docker) -> set[str]:
    return {
        str(task["ID"])
        for service in manager.stack_services(STACK)
        for task in manager.service_tasks(str(service["Spec"]["Name"]))
        if running_task(task)
    }


def test_a_second_machine_needs_no_local_state_and_builds_nothing(
    repo: Repo, docker: Docker, cluster: Cluster, tmp_path: Path
) -> None:
    """Engine A (the host) built, published and deployed staging. Now a fresh clone (no .lmsops/) with
    every docker call going to engine B, the cluster's manager, whose image store never built anything
    (DOCKER_CONTEXT): config, status, history and drift work from the registry and the swarm alone;
    deploy builds and pushes nothing and restarts no task; rollback works."""
    clone = tmp_path / "second"
    subprocess.run(["git", "clone", "--quiet", str(repo.root), str(clone)], check=True)
    for env_file in cluster.envs.repo.environments.glob("*.yaml"):  # staging renamed -cl, on the cluster
        shutil.copyfile(env_file, clone / "env" / env_file.name)
    assert not (clone / ".lmsops").exists()
    b_images_before = set(cluster.manager.image_tags())
    before = running_tasks(cluster.manager)

    def lmsops(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_CONTEXT": CONTEXT, "PYTHONPATH": str(clone / "src")}
        return subprocess.run([sys.executable, "-m", "lmsops", *args], cwd=clone, env=env,
                              capture_output=True, text=True, check=False, timeout=600)  # fmt: skip

    config = lmsops("config", "staging")
    assert config.returncode == 0, config.stderr
    running = {str(s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]) for s in cluster.manager.stack_services(STACK)}
    assert running and all(image in config.stdout for image in running), "the digests come from the registry"
    status = lmsops("status", "staging")
    assert status.returncode == 0 and status.stdout.count("healthy") == 5, status.stdout + status.stderr
    history = lmsops("history", "staging", "--json")
    assert history.returncode == 0, history.stdout + history.stderr
    releases = json.loads(history.stdout)["releases"]
    assert releases and [r["current"] for r in releases].count(True) == 1, releases
    current = next(r for r in releases if r["current"])
    assert set(current["images"].values()) == running, "the release running now is the one whose digests run"
    drift = lmsops("drift", "staging")
    assert drift.returncode == 0, drift.stdout + drift.stderr

    deploy = lmsops("deploy", "staging")

    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "4 of 4 images already there: nothing to build or push" in deploy.stdout, deploy.stdout
    assert "==> building" not in deploy.stdout and "nothing changed, no task restarted" in deploy.stdout
    assert running_tasks(cluster.manager) == before, "no task was restarted"
    assert not {t for t in set(cluster.manager.image_tags()) - b_images_before if t.startswith("lmsops/")}

    rolled = lmsops("rollback", "staging")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "rollback: staging runs release #" in rolled.stdout


def test_bases_and_images_travel_through_the_registry_instead_of_being_rebuilt(
    repo: Repo, docker: Docker, cluster: Cluster, tmp_path: Path
) -> None:
    """Engine A publishes the catalog and the bases it builds on; engine B (the cluster manager, which
    never built anything) with LMSOPS_REGISTRY set builds the catalog by pulling all three: no
    debootstrap, no docker build, the same image ids as on A."""
    wanted = {"python", "python-build", "catalog"}
    ctx = Context(repo, docker, Reporter(), "offline")
    publish(ctx, "127.0.0.1:5000", only=wanted)
    references = {image.name: image.reference for image in ctx.plan() if image.name in wanted}
    env = {**os.environ, "DOCKER_CONTEXT": CONTEXT, "LMSOPS_REGISTRY": "127.0.0.1:5000"}
    try:
        built = subprocess.run([sys.executable, "-m", "lmsops", "build", "catalog", "--offline"], cwd=repo.root,
                               env=env, capture_output=True, text=True, check=False, timeout=600)  # fmt: skip
        assert built.returncode == 0, built.stdout + built.stderr
        for name, reference in references.items():
            assert f"<== {reference}: pulled from 127.0.0.1:5000" in built.stdout, built.stdout
            assert cluster.manager.image_id(reference) == docker.image_id(reference), f"{name}: the same image"
        assert "==> building" not in built.stdout and "bootstrapping" not in built.stdout, built.stdout
    finally:  # B's image store as the fixture made it (the deployed digests stay)
        for reference in references.values():
            cluster.manager.remove_image(reference)


def test_the_conformance_suite_passes_on_the_cluster(repo: Repo, cluster: Cluster, tmp_path: Path) -> None:
    """The same suite as for the local engine, on the cluster's staging as deployed (its files name the
    cluster's context): the gateway on its node, testinfra in each container through that node's engine."""
    suite = run_conformance(repo.root, cluster.envs.repo.environments, tmp_path / "conformance.xml", "--env", "staging")
    assert suite.environments() == {"staging"}


# Last: it leaves the cluster a node short.
def test_losing_a_worker_node_fails_at_most_one_percent_and_every_service_comes_back(
    docker: Docker, cluster: Cluster
) -> None:
    """Four clients through the gateway (the client tries the next node when one refuses, as the
    load balancer in front of a swarm would) while a worker without PostgreSQL is stopped."""
    session = Session(cluster.envs.repo, docker, "staging", Reporter(), Reporter(StringIO()))
    session.bases = [f"http://{address}:{cluster.envs.ports['staging']}" for address in cluster.addresses()]
    prefix, seed = seed_course(session.bases)
    report = measure_node_loss(session, cluster.manager, cluster.nodes, prefix, seed, LoadShape(clients=4))
    assert report.requests >= 120
    assert report.failed_total <= report.requests * 0.01, report.sample_failures
    assert (report.lost_writes, report.half_applied) == (0, 0)
