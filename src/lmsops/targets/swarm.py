"""Swarm targets (staging, production): `docker stack deploy`, then wait for convergence.

`docker stack deploy` returns before anything runs and exits 0 even when Swarm later rolls a
service back (docker/cli#6752), so lmsops watches every service until it runs the declared image
with the declared replicas, healthy, or until Swarm gives up on it.

SwarmTarget implements lmsops.targets.base.Target; its history lives in the swarm itself
(lmsops.releases.history).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.proc import OnLine
from lmsops.core.progress import Reporter
from lmsops.core.swarmapi import running_task
from lmsops.drift.compare import Difference, revisions_of
from lmsops.drift.schema import schema_drift
from lmsops.drift.swarm import compare_swarm
from lmsops.environments.database_jobs import POSTGRES
from lmsops.environments.model import Model
from lmsops.releases.history import RELEASE_LABEL, Release, record_release, releases
from lmsops.targets.base import Applied, LogOptions, NodeEngines, ServiceStatus, TargetFiles, Task, revision_label
from lmsops.targets.databases import provision_databases
from lmsops.targets.last_lines import service_last_lines
from lmsops.targets.lock import LockStore, SwarmLock
from lmsops.targets.migrations import migrate_changed
from lmsops.targets.progress import Heartbeat
from lmsops.targets.swarm_day2 import swarm_exec, swarm_logs, swarm_run, swarm_tasks

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
    failed_before: frozenset[str] = frozenset()  # tasks that had failed before this deploy: not its errors
    detail: str = ""  # what its other tasks are doing ("1 starting, updating"), for progress lines

    def state(self) -> str:
        return f"{self.name} {self.running}/{self.replicas} running" + (f" ({self.detail})" if self.detail else "")


def image_of(task_or_spec: dict[str, Any]) -> str:
    spec = task_or_spec.get("Spec", {})
    container = spec.get("TaskTemplate", spec).get("ContainerSpec", {})
    return str(container.get("Image", ""))


def same_image(declared: str, running: str) -> bool:
    """A digest reference must match exactly; a tag matches whatever digest Swarm pinned to it."""
    return running == declared or ("@" not in declared and running.split("@", 1)[0] == declared)


def _observe(
    services: dict[str, dict[str, Any]], tasks: dict[str, list[dict[str, Any]]], stack: str, progress: ServiceProgress
) -> None:
    """Update progress from one reading of the stack (services by name, tasks by service id)."""
    service = services.get(f"{stack}_{progress.name}")
    if service is None:
        return
    own = tasks.get(str(service.get("ID", "")), [])
    failed = [
        t for t in own
        if t.get("Status", {}).get("State") in {"failed", "rejected"} and str(t.get("ID")) not in progress.failed_before
    ]  # fmt: skip
    if failed:  # read before a failure returns: the task's own error is what the message needs
        latest = max(failed, key=lambda t: str(t.get("UpdatedAt", "")))
        status = latest.get("Status", {})
        progress.last_error = str(status.get("Err") or status.get("Message") or "")
    update = service.get("UpdateStatus") or {}
    state = str(update.get("State", ""))
    ours = update != progress.update_before
    if ours and state in FAILED_UPDATE and state not in IN_PROGRESS:
        message = str(update.get("Message", "")).strip()
        if state == "rollback_completed":
            progress.failure = f"Swarm rolled it back ({state}): {message}"
        else:  # paused: some tasks may run the new spec, some the old; nobody decided yet
            progress.failure = (
                f"Swarm paused it ({state}): {message}; some tasks may run the new version: "
                f"see `docker service ps {stack}_{progress.name}`, then deploy again or roll back"
            )
        return
    running = [t for t in own if running_task(t) and same_image(progress.image, image_of(t))]
    running_ids = frozenset(str(t["ID"]) for t in running)
    progress.changed = running_ids != progress.tasks_before
    # A task is current when it runs the service's present task template (what Swarm itself
    # compares): after a revert, an old task can be current again and is rightly kept.
    current = [t for t in running if _same_task(t.get("Spec") or {}, service["Spec"].get("TaskTemplate") or {})]
    progress.running = len(current)
    settled = state not in IN_PROGRESS
    progress.detail = _detail(own, state, progress.last_error, all_current=progress.running == progress.replicas)
    progress.done = settled and same_image(progress.image, image_of(service)) and progress.running == progress.replicas


def _detail(tasks: list[dict[str, Any]], update: str, last_error: str, all_current: bool = False) -> str:
    """'1 starting, 1 preparing, updating, last task error: ...': the tasks Swarm wants running that do
    not run yet, by state, and the update under way. Once every task runs the new spec, Swarm still says
    'updating' for its monitor window (update_config.monitor), watching them for failures: 'monitoring'."""
    waiting: dict[str, int] = {}
    for task in tasks:
        state = str(task.get("Status", {}).get("State", ""))
        if task.get("DesiredState") == "running" and state != "running":
            waiting[state] = waiting.get(state, 0) + 1
    parts = [f"{count} {state}" for state, count in sorted(waiting.items())]
    if update == "updating" and all_current and not waiting:
        parts.append("monitor window: Swarm watches the new tasks")
    elif update in IN_PROGRESS:
        parts.append(update)
    parts += [f"last task error: {last_error[:80]}"] if last_error else []
    return ", ".join(parts)


def _read_stack(docker: Docker, stack: str) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """One reading of a stack for every service watched: four docker calls per round in all."""
    services = {str(s["Spec"]["Name"]): s for s in docker.stack_services(stack)}
    tasks: dict[str, list[dict[str, Any]]] = {}
    for task in docker.stack_tasks(stack):
        tasks.setdefault(str(task.get("ServiceID", "")), []).append(task)
    return services, tasks


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
    current, tasks = _read_stack(docker, stack)
    watched = [
        ServiceProgress(
            name,
            str(spec["image"]),
            int(spec.get("deploy", {}).get("replicas", 1)),
            _running_tasks(tasks.get(str(current.get(f"{stack}_{name}", {}).get("ID", "")), [])),
            current.get(f"{stack}_{name}", {}).get("UpdateStatus") or {},
            failed_before=_failed_tasks(tasks.get(str(current.get(f"{stack}_{name}", {}).get("ID", "")), [])),
        )
        for name, spec in sorted(model.document["services"].items())
    ]
    # Databases first when PostgreSQL already runs: a new service's role and database, then every
    # migration with the new images, before any service rolls; a failing one leaves all as it was.
    # On a first deploy PostgreSQL starts with the stack, and the services wait for their schema.
    postgres_running = _has_running_task(current, tasks, f"{stack}_{POSTGRES}")
    running = _running_images(current, tasks, stack)
    if postgres_running:
        _prepare_databases(docker, model, report, running, serving=True)
    docker.stack_deploy(stack, path)
    _repair_images(docker, stack, watched, report)
    if not postgres_running:
        _prepare_databases(docker, model, report, running, serving=False)
    deadline = time.monotonic() + model.env.file.deploy.timeout
    started = time.monotonic()
    pending = list(watched)
    heartbeat = Heartbeat(lambda: time.monotonic())
    while pending:
        time.sleep(1.0)
        services, tasks = _read_stack(docker, stack)
        for progress in list(pending):
            _observe(services, tasks, stack, progress)
            if progress.failure:
                service_last_lines(docker, report, stack, progress.name)
                cause = f" (last task error: {progress.last_error})" if progress.last_error else ""
                kept = (
                    "; the previous version keeps serving"
                    if progress.failure.startswith("Swarm rolled it back")
                    else ""
                )
                raise DeployError(
                    f"{model.env.name}: {progress.name} failed to update: {progress.failure}{cause}{kept}; "
                    "its last log lines are above"
                )
            if progress.done:
                pending.remove(progress)
                word = "updated" if progress.changed else "unchanged"
                report.say(
                    f"    {progress.name}: {word}, {progress.running}/{progress.replicas} running {progress.image}"
                    + (f" ({time.monotonic() - started:.1f} s)" if progress.changed else "")
                )
                heartbeat.noted()
        heartbeat.say(report, "; ".join(progress.state() for progress in pending))
        if pending and time.monotonic() > deadline:
            worst = pending[0]
            service_last_lines(docker, report, stack, worst.name)
            error = f"; last task error: {worst.last_error}" if worst.last_error else ""
            raise DeployError(
                f"{model.env.name}: {worst.name} did not converge within {model.env.file.deploy.timeout} s "
                f"({worst.running}/{worst.replicas} healthy tasks of {worst.image}{error}); "
                f"see `nox -s status -- {model.env.name}` and `docker service logs {stack}_{worst.name}`"
            )
    _remove_unused_secrets(docker, model)
    changed = [p.name for p in watched if p.changed]
    return changed, [p.name for p in watched if not p.changed]


def _prepare_databases(
    docker: Docker, model: Model, report: Reporter, running: dict[str, set[str]], *, serving: bool
) -> None:
    provision_databases(docker, model, report, timeout=model.env.file.deploy.timeout)
    migrate_changed(docker, model, report, running, same_image, serving=serving)


def _running_images(
    services: dict[str, dict[str, Any]], tasks: dict[str, list[dict[str, Any]]], stack: str
) -> dict[str, set[str]]:
    """service -> the image of its spec and of every running task (a service that runs nothing: none)."""
    found: dict[str, set[str]] = {}
    for full, service in services.items():
        own = [image_of(t) for t in tasks.get(str(service.get("ID", "")), []) if running_task(t)]
        if own:
            found[full.removeprefix(f"{stack}_")] = {image_of(service), *own}
    return found


def _has_running_task(services: dict[str, dict[str, Any]], tasks: dict[str, list[dict[str, Any]]], name: str) -> bool:
    service = services.get(name)
    return service is not None and any(running_task(t) for t in tasks.get(str(service.get("ID", "")), []))


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


def _running_tasks(tasks: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(str(t["ID"]) for t in tasks if running_task(t))


def _failed_tasks(tasks: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(str(t["ID"]) for t in tasks if t.get("Status", {}).get("State") in {"failed", "rejected"})


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


class SwarmTarget(TargetFiles):
    """A Swarm stack on a manager (lmsops.targets.base.Target)."""

    kind_name = "Swarm stack"

    def prepare(self, report: Reporter, *, init_swarm: bool = False) -> None:
        self.engine.require_engine()
        name = self.env.name
        state, manager = self.engine.swarm_state()
        if state == "active" and manager:
            return
        if state == "active":
            raise ConfigError(f"{name}: this engine is a swarm worker; point target.context at a manager")
        if not init_swarm:
            raise ConfigError(
                f"{name} deploys to a Swarm stack, but this engine is not part of a swarm. "
                f"Run `nox -s deploy -- {name} --init-swarm` to make it a single-node swarm "
                f"(docker swarm init --advertise-addr 127.0.0.1), or set target.context in env/{name}.yaml "
                "to a swarm manager"
            )
        self.engine.swarm_init()
        report.say(
            "    initialised a single-node swarm on this engine (--init-swarm); "
            "leave it with `docker swarm leave --force`"
        )

    def apply(self, model: Model, path: Path, report: Reporter) -> Applied:
        changed, unchanged = deploy_swarm(self.engine, model, path, report)
        return Applied(changed, unchanged)

    def lock_store(self) -> LockStore:
        return SwarmLock(self.engine, self.env.target.name)

    def accept(self, model: Model, path: Path, note: str, report: Reporter) -> Release | None:
        self._keep_as_last_good(path)
        release = record_release(self.engine, model, note)
        report.say(f"    release #{release.seq} recorded (nox -s history -- {self.env.name})")
        return release

    def status(self) -> list[ServiceStatus]:
        stack = self.env.target.name
        services, tasks = _read_stack(self.engine, stack)
        rows = []
        for name, service in sorted(services.items()):
            desired = int(service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0))
            image = image_of(service)
            running = sum(1 for task in tasks.get(str(service.get("ID", "")), []) if running_task(task))
            update = (service.get("UpdateStatus") or {}).get("State", "")
            health = "healthy" if running == desired else "degraded"
            if update:
                health += f", last update {update}"
            short = name.removeprefix(f"{stack}_")
            rows.append(ServiceStatus(short, desired, running, health, image, revision_label(self.engine, image)))
        return rows

    def planned_differences(self, model: Model, images: Docker) -> tuple[list[Difference], dict[str, str]]:
        # Swarm specs carry no image settings: the model is rendered and compared as it is.
        return compare_swarm(self.engine, model, {}, images), {}

    def drift(self, model: Model, images: Docker) -> list[Difference]:
        return compare_swarm(self.engine, model, revisions_of(model), images=images) + schema_drift(self.engine, model)

    def down(self, volumes: bool, report: Reporter) -> None:
        down_swarm(self.engine, self.env.target.name, volumes, report)

    def removal_plan(self, volumes: bool) -> list[str]:
        # What down_swarm removes: `docker stack rm` the stack's secrets (always), and --volumes its
        # volumes and its release history.
        stack = self.env.target.name
        plan = [f"secret {name}" for name in self.engine.stack_secrets(stack)]
        if volumes:
            plan += [f"volume {name}" for name in self.engine.volumes_with_label(f"com.docker.stack.namespace={stack}")]
            history = self.engine.configs_with_label(f"{RELEASE_LABEL}={stack}")
            plan += [f"config {config['Spec']['Name']} (release history)" for config in history]
        return plan

    def history(self) -> list[Release]:
        return releases(self.engine, self.env.target.name)

    def logs_command(self, service: str) -> str:
        return f"docker service logs {self.env.target.name}_{service}"

    def tasks(self) -> list[Task]:
        return swarm_tasks(self.engine, self.env.target.name)

    def logs(self, services: Sequence[str], options: LogOptions, out: OnLine) -> None:
        swarm_logs(self.engine, self.env.target.name, services, options, out)

    def exec_in(self, service: str, command: Sequence[str], *, tty: bool, node_engines: NodeEngines) -> int:
        return swarm_exec(self.engine, self.env.name, self.env.target.name, service, command, tty, node_engines)

    def run_once(self, service: str, command: Sequence[str], *, tty: bool, report: Reporter) -> int:
        return swarm_run(self.engine, self.env.name, self.env.target.name, service, command, tty, report)
