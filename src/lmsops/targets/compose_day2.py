"""Day-2 commands on a Compose project: its containers (`ps`), their logs, a command in a running
container (`exec`) and a one-off container of a service (`run`: `docker compose run --rm --no-deps`
on the model last deployed, so with the service's own secrets mounted as files)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError, ConfigError, DeployError
from lmsops.core.proc import OnLine
from lmsops.environments.database_jobs import JOB_LABEL
from lmsops.targets.base import LogOptions, Task, short_image


def compose_items(docker: Docker, project: str) -> list[dict[str, Any]]:
    """`docker compose ps --all --format json` of a project, by its name only (works even when the
    files that made it are gone)."""
    result = docker.compose(project, [], None, "ps", "--all", "--format", "json", check=False)
    items: list[dict[str, Any]] = []
    for line in result.stdout.splitlines():
        text = line.strip()
        if text.startswith("{"):  # Compose 2.21 and later: one object per line
            items.append(json.loads(text))
        elif text.startswith("["):  # before 2.21: one array
            items += json.loads(text)
    return items


def compose_tasks(docker: Docker, project: str) -> list[Task]:
    items = compose_items(docker, project)
    inspected = docker.containers_inspect([str(item["ID"]) for item in items])
    started = {str(doc.get("Id", "")): str((doc.get("State") or {}).get("StartedAt", "")) for doc in inspected}
    rows = []
    for item in items:
        running = item.get("State") == "running"
        since = next((time for full, time in started.items() if full.startswith(str(item["ID"]))), "")
        rows.append(
            Task(
                str(item["Service"]), str(item.get("Name", item["ID"])), "", str(item["State"]),
                str(item.get("Health") or "-"), short_image(str(item["Image"])), since if running else "",
                ", ".join(_port(p) for p in item.get("Publishers") or [] if p.get("PublishedPort")),
            )
        )  # fmt: skip
    return sorted(rows, key=lambda row: (row.service, row.name))


def _port(publisher: dict[str, Any]) -> str:
    host = f"{publisher['URL']}:" if publisher.get("URL") else ""
    return f"{host}{publisher['PublishedPort']}->{publisher['TargetPort']}/{publisher.get('Protocol', 'tcp')}"


def compose_logs(docker: Docker, project: str, services: Sequence[str], options: LogOptions, out: OnLine) -> None:
    """`docker compose logs`: every container's lines, prefixed with its service, interleaved by Compose."""
    args = ["logs", "--no-color", *(["--follow"] if options.follow else [])]
    if options.since:
        args += ["--since", options.since]
    if options.tail is not None:
        args += ["--tail", str(options.tail)]
    result = docker.compose_watched(project, [], None, *args, *services, on_line=out, on_tick=lambda: None)
    if result.returncode != 0:
        raise CommandError(result.argv, result.returncode, result.output)


def running_container(docker: Docker, env_name: str, project: str, service: str) -> str:
    """The ID of a running container of service; DeployError when none runs."""
    for item in compose_items(docker, project):
        if item.get("Service") == service and item.get("State") == "running":
            return str(item["ID"])
    raise DeployError(f"{env_name}: {service} has no running container; see `nox -s ps -- {env_name}`")


def compose_run(
    docker: Docker, env_name: str, project: str, model_file: Path, service: str, command: Sequence[str], tty: bool
) -> int:
    """`docker compose run --rm --no-deps` of the model last deployed: the service's image, environment,
    secrets (its own files) and networks; removed afterwards; its exit code."""
    if not model_file.is_file():
        raise ConfigError(
            f"{env_name}: nothing was deployed from this checkout ({model_file} is missing); "
            f"run `nox -s deploy -- {env_name}` first"
        )
    options = ["--rm", "--no-deps", "--label", f"{JOB_LABEL}=run", *([] if tty else ["-T"])]
    return docker.compose_attached(project, [model_file], None, "run", *options, service, *command)
