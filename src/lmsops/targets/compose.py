"""Compose targets (dev): `docker compose up --wait` of the resolved model, with rollback.

ComposeTarget implements lmsops.targets.base.Target. Compose keeps no history of its own, so the
last model that deployed and passed every check is kept beside the rendered files
(.lmsops/env/<project>/last-good.yaml) and a failed deploy goes back to it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.proc import OnLine
from lmsops.core.progress import Reporter
from lmsops.drift.compare import Difference, revisions_of
from lmsops.drift.compose import compare_compose
from lmsops.drift.schema import schema_drift
from lmsops.environments.database_jobs import POSTGRES, database_services
from lmsops.environments.model import Model
from lmsops.releases.history import Release
from lmsops.targets.base import Applied, LogOptions, NodeEngines, ServiceStatus, TargetFiles, Task, revision_label
from lmsops.targets.compose_day2 import compose_items, compose_logs, compose_run, compose_tasks, running_container
from lmsops.targets.compose_plan import compose_planned_differences
from lmsops.targets.last_lines import container_last_lines
from lmsops.targets.lock import ComposeLock, LockStore
from lmsops.targets.migrations import migrate_changed
from lmsops.targets.progress import ComposeProgress


@dataclass(frozen=True)
class ComposeService:
    service: str
    container: str
    state: str
    health: str
    image: str


def compose_ps(docker: Docker, project: str) -> list[ComposeService]:
    # Only the project name: works even when the files that made it are gone.
    rows = [
        ComposeService(item["Service"], item["ID"], item["State"], item.get("Health") or "-", item["Image"])
        for item in compose_items(docker, project)
    ]
    return sorted(rows, key=lambda row: row.service)


def deploy_compose(
    docker: Docker, model: Model, path: Path, last_good: Path, report: Reporter
) -> tuple[list[str], list[str]]:
    """Bring the project to the model; on failure roll back to the last good model and raise.
    The model becomes the last good one only once the whole deploy passed (ComposeTarget.accept)."""
    project = model.project
    before = {row.service: row.container for row in compose_ps(docker, project)}
    timeout = str(model.env.file.deploy.timeout)
    up = ("up", "--detach", "--wait", "--wait-timeout", timeout, "--remove-orphans", "--no-build", "--pull", "never")
    _prepare_databases(docker, model, path, timeout, report)
    # Compose's own lines, read as they come, summarised: which container waits, which is healthy.
    progress = ComposeProgress(project, report, lambda: time.monotonic())
    result = docker.compose_watched(project, [path], None, *up, on_line=progress.line, on_tick=progress.tick)
    rows = compose_ps(docker, project)
    if result.returncode != 0:
        bad = {f"{r.service} ({r.state}, {r.health})": r.container for r in rows if not _healthy(r)}
        for described, container in bad.items():  # read before the rollback replaces the container
            container_last_lines(docker, report, described, container)
        last_line = result.output.splitlines()[-1] if result.output else "no output"
        reason = f"{', '.join(bad)}; their last log lines are above" if bad else last_line
        rolled = ""
        if last_good.is_file():
            report.say(f"    {model.env.name}: rolling back to the last model that deployed cleanly")
            back = docker.compose(project, [last_good], None, *up, check=False)
            rolled = "; rolled back to the last good release" if back.returncode == 0 else "; rollback failed too"
        raise DeployError(f"{model.env.name}: not healthy after deploy: {reason}{rolled}")
    repaired = _recreate_drifted(docker, model, path, up, report)
    rows = compose_ps(docker, project) if repaired else rows
    changed = sorted(r.service for r in rows if before.get(r.service) != r.container)
    unchanged = sorted(r.service for r in rows if before.get(r.service) == r.container)
    for row in rows:
        word = "updated" if row.service in changed else "unchanged"
        report.say(f"    {row.service}: {word}, {row.state} ({row.health}), {row.image}")
    return changed, unchanged


def _healthy(row: ComposeService) -> bool:
    return row.state == "running" and row.health in {"healthy", "-"}


def _prepare_databases(docker: Docker, model: Model, path: Path, timeout: str, report: Reporter) -> None:
    """PostgreSQL first (recreated when its settings changed: here it provisions each service's
    database at start), then every migration with the new images, before any service is replaced:
    a failing migration leaves the running services and their data as they were."""
    if POSTGRES not in model.document.get("services", {}) or not database_services(model):
        return
    first = ("up", "--detach", "--wait", "--wait-timeout", timeout, "--no-build", "--pull", "never", POSTGRES)
    result = docker.compose(model.project, [path], None, *first, check=False)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise DeployError(
            f"{model.env.name}: postgres is not healthy ({lines[-1] if lines else 'no output'}); nothing else was "
            f"changed; see `docker compose -p {model.project} logs postgres`"
        )
    running: dict[str, set[str]] = {}
    for row in compose_ps(docker, model.project):
        if row.state == "running":
            running.setdefault(row.service, set()).add(row.image)
    migrate_changed(docker, model, report, running)


def _recreate_drifted(docker: Docker, model: Model, path: Path, up: tuple[str, ...], report: Reporter) -> list[str]:
    """`compose up` recreates a container only when its config-hash label changed, so a change made
    with `docker update` (or a container recreated by hand with copied labels) would survive the
    deploy. Recreate every service whose containers differ from the declaration."""
    drifted = sorted({d.service for d in compare_compose(docker, model, {}) if d.category not in {"state"}})
    if not drifted:
        return []
    report.say(f"    {', '.join(drifted)}: not as declared (changed by hand): recreating")
    # Removed, then created by a plain `up`: recreated as Compose itself creates them (with their
    # dependency labels, which `up --force-recreate --no-deps` would drop), the others untouched.
    docker.compose(model.project, [path], None, "rm", "--stop", "--force", *drifted)
    result = docker.compose(model.project, [path], None, *up, check=False)
    if result.returncode != 0:
        raise DeployError(f"{model.env.name}: recreating {', '.join(drifted)} failed: {result.output}")
    return drifted


def down_compose(docker: Docker, project: str, volumes: bool, report: Reporter) -> None:
    args = ["down", "--remove-orphans", *(["--volumes"] if volumes else [])]
    docker.compose(project, [], None, *args)
    report.say(
        f"    {project}: removed" + (" with its volumes" if volumes else " (volumes kept; --volumes removes them)")
    )


class ComposeTarget(TargetFiles):
    """A Compose project on one engine (lmsops.targets.base.Target)."""

    kind_name = "Compose project"

    def prepare(self, report: Reporter, *, init_swarm: bool = False) -> None:
        self.engine.require_engine()

    def lock_store(self) -> LockStore:
        return ComposeLock(self.engine, self.env.target.name)

    def apply(self, model: Model, path: Path, report: Reporter) -> Applied:
        changed, unchanged = deploy_compose(self.engine, model, path, self._last_good, report)
        return Applied(changed, unchanged)

    def accept(self, model: Model, path: Path, note: str, report: Reporter) -> Release | None:
        self._keep_as_last_good(path)
        return None

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(
                row.service,
                1,
                1 if row.state == "running" else 0,
                row.health if row.health != "-" else row.state,
                row.image,
                revision_label(self.engine, row.image),
            )
            for row in compose_ps(self.engine, self.env.target.name)
        ]

    def planned_differences(self, model: Model, images: Docker) -> tuple[list[Difference], dict[str, str]]:
        return compose_planned_differences(self.engine, images, model)

    def drift(self, model: Model, images: Docker) -> list[Difference]:
        return compare_compose(self.engine, model, revisions_of(model)) + schema_drift(self.engine, model)

    def down(self, volumes: bool, report: Reporter) -> None:
        down_compose(self.engine, self.env.target.name, volumes, report)

    def removal_plan(self, volumes: bool) -> list[str]:
        # `compose down --volumes` by project name removes the volumes labelled with the project.
        label = f"com.docker.compose.project={self.env.target.name}"
        return [f"volume {name}" for name in self.engine.volumes_with_label(label)] if volumes else []

    def history(self) -> list[Release]:
        raise ConfigError(f"{self.env.name} is a Compose environment; the deploy history is kept for Swarm stacks")

    def logs_command(self, service: str) -> str:
        return f"docker compose -p {self.env.target.name} logs {service}"

    def tasks(self) -> list[Task]:
        return compose_tasks(self.engine, self.env.target.name)

    def logs(self, services: Sequence[str], options: LogOptions, out: OnLine) -> None:
        compose_logs(self.engine, self.env.target.name, services, options, out)

    def exec_in(self, service: str, command: Sequence[str], *, tty: bool, node_engines: NodeEngines) -> int:
        container = running_container(self.engine, self.env.name, self.env.target.name, service)
        return self.engine.exec_attached(container, command, tty=tty)

    def run_once(self, service: str, command: Sequence[str], *, tty: bool, report: Reporter) -> int:
        return compose_run(self.engine, self.env.name, self.env.target.name, self._last_good, service, command, tty)
