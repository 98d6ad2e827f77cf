"""The Target protocol: what every kind of target (Compose, Swarm, ...) offers the commands.

A command never asks which kind an environment is: it makes the target once
(`lmsops.targets.factory.target_for`) and calls these methods. A new kind is one module that
implements this protocol plus its tests (docs/architecture.md, "Adding a kind of target").
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lmsops.core.docker import Docker
from lmsops.core.labels import REVISION
from lmsops.core.proc import OnLine
from lmsops.core.progress import Reporter
from lmsops.drift.compare import Difference
from lmsops.environments.config import Environment
from lmsops.environments.model import Model
from lmsops.releases.history import Release
from lmsops.targets.lock import Holder, LockPolicy, LockStore, held

NodeEngines = Callable[[], Mapping[str, str]]  # swarm node ID -> DOCKER_HOST of its engine


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    desired: int
    running: int
    health: str
    image: str
    revision: str


@dataclass(frozen=True)
class Applied:
    """The services a convergence changed (new containers or tasks) and those it left running."""

    changed: list[str]
    unchanged: list[str]


@dataclass(frozen=True)
class Task:
    """One container (Compose) or task (Swarm) of an environment, as `ps` shows it."""

    service: str
    name: str  # the container's name, or the task's (STACK_SERVICE.SLOT)
    node: str  # the swarm node it runs on; "" where the kind has one engine
    state: str  # running, starting, exited, failed, ...
    health: str  # healthy, unhealthy, starting, or "-" without a health check (or where unknown)
    image: str  # short: no registry, a digest cut to 12 characters
    started: str  # ISO 8601 time it started running; "" when it is not running
    ports: str  # published ports, "127.0.0.1:8080->8080/tcp", comma separated


@dataclass(frozen=True)
class LogOptions:
    """What `logs` reads: --follow, --since (a duration such as 10m, or a time), --tail N."""

    follow: bool = False
    since: str | None = None
    tail: int | None = None


class Target(Protocol):
    env: Environment
    engine: Docker  # the adapter pointed at this target's engine (context or host of env/<name>.yaml)

    @property
    def description(self) -> str:
        """'Swarm stack lms-staging on the local engine': for progress lines."""
        ...

    def prepare(self, report: Reporter, *, init_swarm: bool = False) -> None:
        """Before any change: the engine answers and can run this kind (a swarm manager, ...)."""
        ...

    def apply(self, model: Model, path: Path, report: Reporter) -> Applied:
        """Converge on the model written at path; wait until it runs healthy. On failure, leave the
        previous release serving (roll back) and raise DeployError naming the service."""
        ...

    def accept(self, model: Model, path: Path, note: str, report: Reporter) -> Release | None:
        """The release passed every check: remember it as the last good one (and in the history
        where the kind keeps one)."""
        ...

    def status(self) -> list[ServiceStatus]: ...

    def drift(self, model: Model, images: Docker) -> list[Difference]:
        """Every difference between the model and what runs (images: the engine holding the images)."""
        ...

    def planned_differences(self, model: Model, images: Docker) -> tuple[list[Difference], dict[str, str]]:
        """What a deploy of the model would change in the configuration (drift without the database
        schema, running no container), and the services whose new image cannot be compared yet
        (service -> why, e.g. not built): for `plan`."""
        ...

    def down(self, volumes: bool, report: Reporter) -> None: ...

    def removal_plan(self, volumes: bool) -> list[str]:
        """What down(volumes) deletes besides containers and networks, one line each ("volume NAME");
        read only, so that it can be shown before anything is removed."""
        ...

    def history(self) -> list[Release]:
        """The recorded releases, oldest first; ConfigError where the kind keeps none."""
        ...

    def logs_command(self, service: str) -> str:
        """The command an operator runs to read a service's logs on this target."""
        ...

    def lock_store(self) -> LockStore:
        """Where this kind keeps an environment's deploy lock (lmsops.targets.lock)."""
        ...

    def tasks(self) -> list[Task]:
        """Every container or task of the environment that runs or should (`ps`)."""
        ...

    def logs(self, services: Sequence[str], options: LogOptions, out: OnLine) -> None:
        """The logs of services (every one when empty), one line to out each, the service named
        first; with options.follow until interrupted."""
        ...

    def exec_in(self, service: str, command: Sequence[str], *, tty: bool, node_engines: NodeEngines) -> int:
        """Run command in a running container of service and return its exit code; a terminal (-it)
        when tty. node_engines: the DOCKER_HOST of swarm nodes lmsops can reach, asked only when the
        container is on another node than the target's engine."""
        ...

    def run_once(self, service: str, command: Sequence[str], *, tty: bool, report: Reporter) -> int:
        """Run command once with service's image, configuration, secrets and network, remove what
        ran it, and return its exit code."""
        ...

    def locked(self, command: str, policy: LockPolicy, report: Reporter) -> AbstractContextManager[Holder]:
        """Hold the environment's deploy lock (kept in the target) for a command that changes it."""
        ...


class TargetFiles(ABC):
    """What every kind shares: its environment, the adapter on its engine, and the last good model
    kept beside its rendered files (.lmsops/env/<target>/last-good.yaml)."""

    kind_name = "target"  # "Compose project", "Swarm stack": for progress lines

    def __init__(self, env: Environment, engine: Docker, work: Path) -> None:
        self.env, self.engine = env, engine
        self._last_good = work / "last-good.yaml"

    @property
    def description(self) -> str:
        return f"{self.kind_name} {self.env.target.name} on {engine_description(self.env)}"

    @abstractmethod
    def lock_store(self) -> LockStore:
        """Each kind keeps its lock where its engine makes taking it atomic (lmsops.targets.lock)."""

    def locked(self, command: str, policy: LockPolicy, report: Reporter) -> AbstractContextManager[Holder]:
        return held(self.lock_store(), self.env.name, command, policy, report)

    def _keep_as_last_good(self, path: Path) -> None:
        self._last_good.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, self._last_good)


def revision_label(docker: Docker, image: str) -> str:
    """The commit an image was built from (its OCI revision label), short; '?' when unknown."""
    return docker.image_labels(image).get(REVISION, "?")[:12] or "?"


def engine_description(env: Environment) -> str:
    target = env.target
    return (
        f"context {target.context}" if target.context else f"host {target.host}" if target.host else "the local engine"
    )


def short_image(image: str) -> str:
    """An image reference for a table: without its registry, a digest cut to 12 characters."""
    name, _, digest = image.partition("@")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest
    return f"{name}@{digest.removeprefix('sha256:')[:12]}" if digest else name
