"""Swarm targets (staging, production): `docker stack deploy`, then wait for convergence.

`docker stack deploy` returns before anything runs and exits 0 even when Swarm later rolls a
service back (docker/cli#6752), so lmsops watches every service until it runs the declared image
with the declared replicas, healthy, or until Swarm gives up on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.core.progress import Reporter
from lmsops.environments.model import Model
from lmsops.releases.history import RELEASE_LABEL

FAILED_UPDATE = {"rollback_started", "rollback_paused", "rollback_completed", "paused"}
IN_PROGRESS = {"updating", "rollback_started"}


@dataclass
class ServiceProgress:
    name: str
    image: str
    replicas: int
    tasks_before: frozenset[str]  # running task ids before the deploy
    update_before: dict[str, Any]  # UpdateStatus before the deploy (a stale rollback is not ours)
    done: bool = False
    changed: bool = False
    failure: str = ""
    last_error: str = ""
    running: int = field(default=0)


def image_of(task_or_spec: dict[str, Any]) -> str:
    spec = task_or_spec.get("Spec", {})
    container = spec.get("TaskTemplate", spec).get("ContainerSpec", {})
    return str(container.get("Image", ""))


def same_image(declared: str, running: str) -> bool:
    """A digest reference must match exactly; a tag matches whatever digest Swarm pinned to it."""
    return running == declared or ("@" not in declared and running.split("@", 1)[0] == declared)


def _observe(docker: Docker, stack: str, progress: ServiceProgress) -> None:
    services = {s["Spec"]["Name"]: s for s in docker.stack_services(stack)}
    service = services.get(f"{stack}_{progress.name}")
    if service is None:
        return
    update = service.get("UpdateStatus") or {}
    state = str(update.get("State", ""))
    ours = update != progress.update_before
    if ours and state in FAILED_UPDATE and state not in IN_PROGRESS:
        progress.failure = f"Swarm rolled it back ({state}): {update.get('Message', '')}".strip()
        return
    tasks = docker.service_tasks(f"{stack}_{progress.name}")
    running = [
        t for t in tasks
        if t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "running"
        and same_image(progress.image, image_of(t))
    ]  # fmt: skip
    running_ids = frozenset(str(t["ID"]) for t in running)
    progress.changed = running_ids != progress.tasks_before
    # A task is current when it runs the service's present task template (what Swarm itself
    # compares): after a revert, an old task can be current again and is rightly kept.
    current = [t for t in running if _same_task(t.get("Spec") or {}, service["Spec"].get("TaskTemplate") or {})]
    progress.running = len(current)
    failed = [t for t in tasks if t.get("Status", {}).get("State") in {"failed", "rejected"}]
    if failed:
        latest = max(failed, key=lambda t: str(t.get("UpdatedAt", "")))
        status = latest.get("Status", {})
        progress.last_error = str(status.get("Err") or status.get("Message") or "")
    settled = state not in IN_PROGRESS
    progress.done = settled and same_image(progress.image, image_of(service)) and progress.running == progress.replicas


# What makes a task current; the API fills other fields with defaults differently (null vs {}).
_CURRENT_KEYS = (
    "Image", "Env", "Labels", "User", "ReadOnly", "Mounts", "Secrets", "Configs",
    "CapabilityDrop", "CapabilityAdd", "Healthcheck", "Args", "Command",
)  # fmt: skip


def _same_task(task_spec: dict[str, Any], template: dict[str, Any]) -> bool:
    ours, theirs = task_spec.get("ContainerSpec") or {}, template.get("ContainerSpec") or {}
    same_container = all(ours.get(key) == theirs.get(key) for key in _CURRENT_KEYS)
    return same_container and (task_spec.get("Resources") or {}) == (template.get("Resources") or {})


def deploy_swarm(docker: Docker, model: Model, path: Path, report: Reporter) -> tuple[list[str], list[str]]:
    stack = model.project
    current = {s["Spec"]["Name"]: s for s in docker.stack_services(stack)}
    watched = [
        ServiceProgress(
            name,
            str(spec["image"]),
            int(spec.get("deploy", {}).get("replicas", 1)),
            _running_tasks(docker, f"{stack}_{name}"),
            current.get(f"{stack}_{name}", {}).get("UpdateStatus") or {},
        )
        for name, spec in sorted(model.document["services"].items())
    ]
    docker.stack_deploy(stack, path)
    _repair_images(docker, stack, watched, report)
    deadline = time.monotonic() + model.env.file.deploy.timeout
    started = time.monotonic()
    pending = list(watched)
    while pending:
        time.sleep(1.0)
        for progress in list(pending):
            _observe(docker, stack, progress)
            if progress.failure:
                cause = f" (last task error: {progress.last_error})" if progress.last_error else ""
                raise DeployError(
                    f"{model.env.name}: {progress.name} failed to update: {progress.failure}{cause}; "
                    "the previous version keeps serving"
                )
            if progress.done:
                pending.remove(progress)
                word = "updated" if progress.changed else "unchanged"
                report.say(
                    f"    {progress.name}: {word}, {progress.running}/{progress.replicas} running {progress.image}"
                    + (f" ({time.monotonic() - started:.1f} s)" if progress.changed else "")
                )
        if pending and time.monotonic() > deadline:
            worst = pending[0]
            error = f"; last task error: {worst.last_error}" if worst.last_error else ""
            raise DeployError(
                f"{model.env.name}: {worst.name} did not converge within {model.env.file.deploy.timeout} s "
                f"({worst.running}/{worst.replicas} healthy tasks of {worst.image}{error}); "
                f"see `nox -s status -- {model.env.name}` and `docker service logs {stack}_{worst.name}`"
            )
    _remove_unused_secrets(docker, model)
    changed = [p.name for p in watched if p.changed]
    return changed, [p.name for p in watched if not p.changed]


def _repair_images(docker: Docker, stack: str, watched: list[ServiceProgress], report: Reporter) -> None:
    """`docker stack deploy` keeps a service's image when its com.docker.stack.image label still
    matches the file, so an image changed by hand (`docker service update --image`) would survive
    the deploy. Put the declared image back explicitly."""
    for service in docker.stack_services(stack):
        name = str(service["Spec"]["Name"]).removeprefix(f"{stack}_")
        progress = next((p for p in watched if p.name == name), None)
        if progress is not None and not same_image(progress.image, image_of(service)):
            report.say(f"    {name}: runs {image_of(service)}, not the declared image: putting {progress.image} back")
            docker.service_set_image(f"{stack}_{name}", progress.image)


def _running_tasks(docker: Docker, service: str) -> frozenset[str]:
    tasks = docker.service_tasks(service)
    return frozenset(
        str(t["ID"])
        for t in tasks
        if t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "running"
    )


def _remove_unused_secrets(docker: Docker, model: Model) -> None:
    """Old versions of rotated secrets: remove those no service uses any more."""
    current = {str(spec["name"]) for spec in (model.document.get("secrets") or {}).values()}
    unused = [name for name in docker.stack_secrets(model.project) if name not in current]
    if unused:
        docker.secret_rm(unused)


def down_swarm(docker: Docker, stack: str, volumes: bool, report: Reporter, timeout: float = 120) -> None:
    docker.stack_rm(stack)
    deadline = time.monotonic() + timeout
    label = f"com.docker.stack.namespace={stack}"
    while docker.stack_networks(stack) or docker.containers_with_label(label):
        if time.monotonic() > deadline:
            raise DeployError(f"{stack}: still removing after {timeout:.0f} s")
        time.sleep(1.0)
    if volumes:  # its data and its release history go together
        names = docker.volumes_with_label(label)
        if names:
            docker.volume_rm(names)
        history = [str(c["Spec"]["Name"]) for c in docker.configs_with_label(f"{RELEASE_LABEL}={stack}")]
        if history:
            docker.config_rm(history)
    kept = " with its volumes and release history" if volumes else " (volumes and history kept; --volumes removes them)"
    report.say(f"    {stack}: removed{kept}")
