"""`nox -s status -- <env>` and `nox -s down -- <env>`: what runs, and removing it."""

from __future__ import annotations

from dataclasses import dataclass

from lmsops.core.docker import Docker
from lmsops.core.labels import REVISION
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.environments.config import Environment, Overrides, load_environment
from lmsops.environments.model import model_services
from lmsops.targets.compose import compose_ps, down_compose
from lmsops.targets.swarm import down_swarm, image_of


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    desired: int
    running: int
    health: str
    image: str
    revision: str


def environment(repo: Repo, env_name: str, overrides: Overrides | None = None) -> Environment:
    return load_environment(repo, env_name, model_services(repo), overrides)


def status(repo: Repo, docker: Docker, env_name: str, overrides: Overrides | None = None) -> list[ServiceStatus]:
    env = environment(repo, env_name, overrides)
    target = docker.for_target(env.target.context, env.target.host)
    target.require_engine()
    if env.target.kind == "compose":
        return [
            ServiceStatus(
                row.service,
                1,
                1 if row.state == "running" else 0,
                row.health if row.health != "-" else row.state,
                row.image,
                _revision(target, row.image),
            )
            for row in compose_ps(target, env.target.name)
        ]
    rows = []
    for service in sorted(target.stack_services(env.target.name), key=lambda s: str(s["Spec"]["Name"])):
        name = str(service["Spec"]["Name"])
        desired = int(service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0))
        image = image_of(service)
        tasks = target.service_tasks(name)
        running = sum(
            1 for t in tasks if t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "running"
        )
        update = (service.get("UpdateStatus") or {}).get("State", "")
        health = "healthy" if running == desired else "degraded"
        if update:
            health += f", last update {update}"
        rows.append(
            ServiceStatus(
                name.removeprefix(f"{env.target.name}_"), desired, running, health, image, _revision(target, image)
            )
        )
    return rows


def _revision(docker: Docker, image: str) -> str:
    return docker.image_labels(image).get(REVISION, "?")[:12] or "?"


def down(
    repo: Repo, docker: Docker, env_name: str, volumes: bool, report: Reporter, overrides: Overrides | None = None
) -> None:
    env = environment(repo, env_name, overrides)
    target = docker.for_target(env.target.context, env.target.host)
    target.require_engine()
    if env.target.kind == "compose":
        down_compose(target, env.target.name, volumes, report)
    else:
        down_swarm(target, env.target.name, volumes, report)
