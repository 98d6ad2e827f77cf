"""Day-2 commands on a Swarm stack: its tasks (`ps`), the logs of its services interleaved, a command
in a running task's container (`exec`), and a one-off task with a service's settings (`run`).

`run` is a Swarm job (`docker service create --mode replicated-job`) made from the running service's
own task template: the same image, environment, user, read-only root, Swarm secrets (the same files,
owner and mode), networks and limits. The swarm mounts the secrets itself, so their values never
leave it (the operator's machine needs none of them), any overlay network works (a job is a service,
the network need not be attachable) and it runs on whichever node the swarm picks. docs/environments.md
("Day-2 commands") says why this and not a `docker run` beside the stack.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError, DeployError, PrerequisiteError
from lmsops.core.proc import OnLine
from lmsops.core.progress import Reporter
from lmsops.core.swarmapi import running_task
from lmsops.environments.database_jobs import JOB_LABEL
from lmsops.targets.base import LogOptions, NodeEngines, Task, short_image
from lmsops.targets.progress import Heartbeat

RUN_OF_LABEL = "org.lmsops.run.of"  # on a `run` job: the service whose settings it has
_JOB_DONE = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}


def swarm_tasks(docker: Docker, stack: str) -> list[Task]:
    """Every task the swarm wants running, with its container's health and start time where the
    container is on this engine (on another node: '-' and the task's own time)."""
    services = {str(service["ID"]): service for service in docker.stack_services(stack)}
    tasks = [task for task in docker.stack_tasks(stack) if task.get("DesiredState") == "running"]
    nodes = docker.node_hostnames() if tasks else {}
    ids = [_container(task) for task in tasks if _container(task)]
    containers = {str(doc.get("Id", "")): doc for doc in docker.containers_inspect(ids)}
    rows = []
    for task in tasks:
        service = services.get(str(task.get("ServiceID", "")))
        if service is None:
            continue
        name = str(service["Spec"]["Name"])
        status = task.get("Status") or {}
        state = str(status.get("State", "?"))
        container = (containers.get(_container(task)) or {}).get("State") or {}
        health = str((container.get("Health") or {}).get("Status", "-"))
        started = str(container.get("StartedAt") or status.get("Timestamp", "")) if state == "running" else ""
        ports = (status.get("PortStatus") or {}).get("Ports") or (service.get("Endpoint") or {}).get("Ports") or []
        rows.append(
            Task(
                name.removeprefix(f"{stack}_"), f"{name}.{task.get('Slot') or task.get('NodeID')}",
                nodes.get(str(task.get("NodeID", "")), str(task.get("NodeID", ""))), state, health,
                short_image(str((task.get("Spec") or {}).get("ContainerSpec", {}).get("Image", ""))), started,
                ", ".join(dict.fromkeys(  # a port published on IPv4 and IPv6 is listed twice
                    f"{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')}" for p in ports
                )),
            )
        )  # fmt: skip
    return sorted(rows, key=lambda row: (row.service, row.name))


def _container(task: dict[str, Any]) -> str:
    return str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID", ""))


# "TIME STACK_SERVICE.SLOT.TASKID@NODE    | TEXT", as `docker service logs --timestamps` prints a line
_LOG_LINE = re.compile(r"^(\S+) (\S+?)\.([^.\s]+)\.[^.\s@]+@(\S+)\s+\| ?(.*)$")


def swarm_logs(docker: Docker, stack: str, services: Sequence[str], options: LogOptions, out: OnLine) -> None:
    """Every service's logs (`docker service logs` side by side), each line as `catalog.1@node | text`;
    without --follow sorted by time across services, with --follow as they come."""
    names = list(services) or sorted(
        str(s["Spec"]["Name"]).removeprefix(f"{stack}_") for s in docker.stack_services(stack)
    )
    held: list[tuple[str, str]] = []

    def line(service: str, text: str) -> None:
        match = _LOG_LINE.match(text)
        shown = f"{service}.{match.group(3)}@{match.group(4)} | {match.group(5)}" if match else f"{service} | {text}"
        if options.follow:
            out(shown)
        else:
            held.append((match.group(1) if match else "", shown))

    codes = docker.services_logs(
        {name: f"{stack}_{name}" for name in names}, line, follow=options.follow, since=options.since, tail=options.tail
    )
    for _, shown in sorted(held, key=lambda item: item[0]):
        out(shown)
    failed = sorted(name for name, code in codes.items() if code != 0)
    if failed:
        raise CommandError(["docker", "service", "logs", *(f"{stack}_{name}" for name in failed)], codes[failed[0]], "")


def _running_task(docker: Docker, env_name: str, stack: str, service: str) -> dict[str, Any]:
    for task in docker.service_tasks(f"{stack}_{service}"):
        if running_task(task) and _container(task):
            return task
    raise DeployError(f"{env_name}: {service} has no running task; see `nox -s ps -- {env_name}`")


def swarm_exec(
    docker: Docker,
    env_name: str,
    stack: str,
    service: str,
    command: Sequence[str],
    tty: bool,
    node_engines: NodeEngines,
) -> int:
    """Run command in the container of a running task of service: on the target's engine when the task
    runs there, else on its node's engine when lmsops knows it (node_engines), else say where it is."""
    task = _running_task(docker, env_name, stack, service)
    container, node = _container(task), str(task.get("NodeID", ""))
    if node == docker.swarm_node_id():
        return docker.exec_attached(container, command, tty=tty)
    engines = node_engines()
    if node in engines:
        return docker.for_target(None, engines[node]).exec_attached(container, command, tty=tty)
    hostname = docker.node_hostnames().get(node, node)
    raise PrerequisiteError(
        f"{env_name}: the running task {stack}_{service}.{task.get('Slot', '')} of {service} is on node {hostname} "
        f"({docker.node_address(node)}), not on the engine lmsops talks to, and lmsops knows no way to that node's "
        f"engine; run it there: `docker exec -it {container[:12]} {' '.join(command)}` (e.g. through a Docker "
        "context or DOCKER_HOST=ssh://... for that node)"
    )


def swarm_run(
    docker: Docker, env_name: str, stack: str, service: str, command: Sequence[str], tty: bool, report: Reporter
) -> int:
    """Run command once as a Swarm job with the settings of the running service (module docstring);
    print what it printed, remove it, and return its exit code."""
    found = docker.service_inspect(f"{stack}_{service}")
    if found is None:
        raise DeployError(f"{env_name}: {service} is not deployed (no service {stack}_{service}); deploy it first")
    job = f"{stack}_run-{service}-{secrets.token_hex(3)}"
    if tty:
        report.say(
            f"    {env_name}: a Swarm job has no terminal; `exec` runs a command interactively in a running task"
        )
    report.say(f"==> {env_name}: {' '.join(command)} as the one-off job {job} (the settings of {stack}_{service}) ...")
    try:
        docker.job_create(
            job, found["Spec"]["TaskTemplate"], command, {JOB_LABEL: "run", RUN_OF_LABEL: f"{stack}_{service}"}
        )
        task = _wait_for_job(docker, job, report)
        docker.service_output(job)
    finally:
        _remove_job(docker, job)
    status = task.get("Status") or {}
    if status.get("State") == "complete":
        return 0
    code = int((status.get("ContainerStatus") or {}).get("ExitCode") or 0)
    if code == 0:  # never started: rejected (an image the node lacks, a missing secret, ...)
        raise DeployError(f"{env_name}: the job {job} did not run: {status.get('Err') or status.get('State')}")
    return code


def _remove_job(docker: Docker, job: str) -> None:
    """Remove the job and its container: the swarm (20.10) keeps the container of a finished job's task
    after `service rm`, so lmsops removes it from this engine itself."""
    docker.service_rm([job])
    docker.remove_containers(docker.containers_with_label(f"com.docker.swarm.service.name={job}"))


def _wait_for_job(docker: Docker, job: str, report: Reporter) -> dict[str, Any]:
    heartbeat = Heartbeat(lambda: time.monotonic())
    while True:
        tasks = docker.service_tasks(job)
        done = [task for task in tasks if (task.get("Status") or {}).get("State") in _JOB_DONE]
        if done:
            return done[0]
        states = ", ".join(sorted(str((task.get("Status") or {}).get("State", "")) for task in tasks)) or "pending"
        heartbeat.say(report, f"{job} {states}")
        time.sleep(0.5)
