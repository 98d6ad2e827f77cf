"""Fakes for the unit tests of lmsops.targets: a clock that never sleeps, and engines that answer from
JSON recorded on a real engine (tests/unit/data/convergence: swarm.json by record.py, compose.json by
record_compose.py) instead of running docker."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError, PrerequisiteError
from lmsops.core.labels import REVISION
from lmsops.core.paths import Repo
from lmsops.environments.config import Environment, load_environment
from lmsops.environments.model import Model, model_services
from tests.unit.adapter_fakes import FakeClock as AdapterClock

DATA = Path(__file__).parent / "data" / "convergence"
SWARM = json.loads((DATA / "swarm.json").read_text())
COMPOSE = json.loads((DATA / "compose.json").read_text())
STACK = "lmsrec"  # the stack record.py deploys its one service "web" in
IMAGE = str(SWARM["image"])

Reading = dict[str, list[dict[str, Any]]]  # {"services": [...], "tasks": [...]}: one reading of a stack


class FakeClock(AdapterClock):
    """Stands in for the `time` module of the module under test: sleep() only moves the clock on;
    it starts at 0 (the recorded timelines are given in seconds from the deploy's start)."""

    def __init__(self) -> None:
        super().__init__(start=0.0)


# -- environments and models -----------------------------------------------------------------------
def environment(repo: Repo, env_name: str, *, timeout: int | None = None, **target: Any) -> Environment:
    """env/<env_name>.yaml of repo, with target fields (name, context, host) and deploy.timeout replaced."""
    env = load_environment(repo, env_name, model_services(repo))
    update: dict[str, Any] = {}
    if target:
        update["target"] = env.target.model_copy(update=target)
    if timeout is not None:
        update["deploy"] = env.file.deploy.model_copy(update={"timeout": timeout})
    return dataclasses.replace(env, file=env.file.model_copy(update=update)) if update else env


def model(env: Environment, document: dict[str, Any], folder: Path) -> Model:
    """A resolved model of env (only what the targets read: its document, text and folder)."""
    text = json.dumps(document, sort_keys=True)
    return Model(env, [], folder / "model.env", [], document, text)


# -- Swarm -----------------------------------------------------------------------------------------
def moment(name: str) -> Reading:
    """One recorded reading of the stack lmsrec (its service web), a copy the test may change."""
    return {"services": copy.deepcopy(SWARM[name]["services"]), "tasks": copy.deepcopy(SWARM[name]["tasks"])}


def as_service(reading: Reading, name: str) -> Reading:
    """The reading of lmsrec_web, as the reading of another service lmsrec_<name> (its own IDs)."""
    text = json.dumps(reading)
    for service in reading["services"]:
        text = text.replace(str(service["ID"]), f"{service['ID']}-{name}")
    for task in reading["tasks"]:
        text = text.replace(str(task["ID"]), f"{task['ID']}-{name}")
    renamed: Reading = json.loads(text.replace(f'"{STACK}_web"', f'"{STACK}_{name}"'))
    return renamed


def with_image(reading: Reading, image: str) -> Reading:
    """The reading with every service and task running image instead of the recorded one."""
    changed: Reading = json.loads(json.dumps(reading).replace(f'"{IMAGE}"', json.dumps(image)))
    return changed


def together(*readings: Reading) -> Reading:
    """One reading of a stack of several services."""
    return {key: [item for reading in readings for item in reading[key]] for key in ("services", "tasks")}


NOTHING: Reading = {"services": [], "tasks": []}


class _FakeEngine(Docker):
    """What both fake engines answer alike: aimed at any target (itself), reachable unless told not."""

    calls: list[tuple[str, ...]]
    reachable: bool

    def for_target(self, context: str | None, host: str | None) -> Docker:
        self.calls.append(("for_target", str(context), str(host)))
        return self

    def require_engine(self) -> str:
        self.calls.append(("require_engine",))
        if not self.reachable:
            raise PrerequisiteError("the Docker engine is not reachable (fake)")
        return "20.10.24"


class SwarmEngine(_FakeEngine):
    """A swarm manager whose stack reads as the timeline says at the fake clock's time: entries
    (from_second, reading), the last one started is what the engine answers."""

    def __init__(self, clock: FakeClock, timeline: Iterable[tuple[float, Reading]], stack: str = STACK) -> None:
        super().__init__("fake-docker")
        self.clock, self.stack = clock, stack
        self.timeline = sorted(timeline, key=lambda entry: entry[0])
        self.calls: list[tuple[str, ...]] = []
        self.swarm = ("active", True)
        self.reachable = True
        self.secrets: list[str] = []
        self.configs: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, str]] = {}  # image reference -> its labels
        self.leftovers_until = 0.0  # networks and containers of a removed stack linger until then
        self.volumes = [f"{stack}_data"]
        self.service_lines: dict[str, list[str]] = {}  # service -> its `docker service logs --timestamps` lines

    def reading(self) -> Reading:
        started = [reading for at, reading in self.timeline if at <= self.clock.now]
        return started[-1] if started else NOTHING

    # what the Swarm target asks of the adapter

    def swarm_state(self) -> tuple[str, bool]:
        return self.swarm

    def swarm_init(self) -> None:
        self.calls.append(("swarm_init",))
        self.swarm = ("active", True)

    def stack_services(self, stack: str) -> list[dict[str, Any]]:
        assert stack == self.stack
        return copy.deepcopy(self.reading()["services"])

    def stack_tasks(self, stack: str) -> list[dict[str, Any]]:
        assert stack == self.stack
        return copy.deepcopy(self.reading()["tasks"])

    def services_logs(
        self,
        services: Mapping[str, str],
        on_line: Callable[[str, str], None],
        *,
        follow: bool = False,
        since: str | None = None,
        tail: int | None = None,
    ) -> dict[str, int]:
        """`docker service logs --timestamps` of each service: the lines of service_lines, the last tail."""
        self.calls.append(("service logs", *services.values()))
        for key, name in services.items():
            lines = self.service_lines.get(name, [])
            for line in lines[-tail:] if tail else lines:
                on_line(key, line)
        return dict.fromkeys(services, 0)

    def stack_deploy(self, stack: str, model: Path, check: bool = True) -> proc.Result:
        self.calls.append(("stack_deploy", stack, str(model)))
        return proc.Result(["docker", "stack", "deploy"], 0, "", "")

    def service_set_image(self, service: str, image: str) -> None:
        self.calls.append(("service_set_image", service, image))

    def stack_secrets(self, stack: str) -> list[str]:
        return list(self.secrets)

    def secret_rm(self, names: Sequence[str]) -> proc.Result:
        self.calls.append(("secret_rm", *names))
        self.secrets = [name for name in self.secrets if name not in names]
        return proc.Result(["docker", "secret", "rm"], 0, "", "")

    def stack_rm(self, stack: str) -> None:
        self.calls.append(("stack_rm", stack))

    def stack_networks(self, stack: str) -> list[str]:
        return [f"{stack}_default"] if self.clock.now < self.leftovers_until else []

    def containers_with_label(self, label: str) -> list[str]:
        assert label == f"com.docker.stack.namespace={self.stack}"
        return ["a-task-container"] if self.clock.now < self.leftovers_until else []

    def volumes_with_label(self, label: str) -> list[str]:
        assert label == f"com.docker.stack.namespace={self.stack}"
        return list(self.volumes)

    def volume_rm(self, names: Sequence[str]) -> proc.Result:
        self.calls.append(("volume_rm", *names))
        return proc.Result(["docker", "volume", "rm"], 0, "", "")

    def config_create(self, name: str, labels: dict[str, str], data: bytes, check: bool = True) -> bool:
        if name in self.configs:
            if check:
                raise CommandError(["docker", "config", "create", name], 1, f"config {name} already exists")
            return False
        encoded = base64.b64encode(data).decode()
        self.configs[name] = {"ID": name, "Spec": {"Name": name, "Labels": dict(labels), "Data": encoded}}
        return True

    def config_data(self, name: str) -> bytes | None:
        config = self.configs.get(name)
        return None if config is None else base64.b64decode(config["Spec"]["Data"])

    def configs_with_label(self, label: str) -> list[dict[str, Any]]:
        key, _, value = label.partition("=")
        return [
            copy.deepcopy(config)
            for config in self.configs.values()
            if key in config["Spec"]["Labels"] and (not value or config["Spec"]["Labels"][key] == value)
        ]

    def config_rm(self, names: Sequence[str]) -> proc.Result:
        self.calls.append(("config_rm", *names))
        for name in names:
            self.configs.pop(name, None)
        return proc.Result(["docker", "config", "rm"], 0, "", "")

    def image_inspect(self, ref: str) -> dict[str, object] | None:
        labels = self.images.get(ref)
        return None if labels is None else {"Id": f"sha256:{ref}", "Config": {"Labels": labels}}


# -- Compose ---------------------------------------------------------------------------------------
def compose_rows(name: str) -> list[dict[str, Any]]:
    """The containers of a recorded Compose moment, as `docker compose ps --format json` printed them."""
    return [json.loads(line) for line in str(COMPOSE[name]["ps"]).splitlines() if line.strip()]


class ComposeEngine(_FakeEngine):
    """An engine running the Compose project lmsreccompose: `ps` prints what the last `up` left
    (recorded moments), each `up` takes the next outcome of `ups` (returncode, stderr, ps)."""

    def __init__(self, ps: str = "", ups: Sequence[dict[str, Any]] = (), project: str = "lmsreccompose") -> None:
        super().__init__("fake-docker")
        self.project, self.ps = project, ps
        self.container_output: dict[str, str] = {}  # container ID -> what `docker logs` prints
        self.logs_read: list[tuple[str, int | None]] = []  # (container, tail) of each `docker logs`
        self.ups = list(ups)
        self.calls: list[tuple[str, ...]] = []  # the compose argv after the project name and files
        self.files: list[list[str]] = []  # the files each call named
        self.reachable = True
        self.images: dict[str, dict[str, str]] = {}
        self.volumes: dict[str, dict[str, str]] = {}  # name -> labels (the deploy lock is one)
        self.volumes_at: dict[tuple[str, ...], list[str]] = {}  # compose argv -> the volumes that existed then
        self.clock: FakeClock | None = None  # set: compose_watched moves it on line_seconds per line
        self.line_seconds = 0.0

    def compose(
        self, project: str, files: Sequence[Path], env_file: Path | None, *args: str, check: bool = True
    ) -> proc.Result:
        assert project == self.project
        self.calls.append(args)
        self.volumes_at[args] = sorted(self.volumes)
        self.files.append([str(file) for file in files])
        argv = [*self.compose_argv(project, files, env_file), *args]
        if args[0] == "ps":
            return proc.Result(argv, 0, self.ps, "")
        if args[0] == "up":
            outcome = self.ups.pop(0)
            self.ps = str(outcome["ps"])
            result = proc.Result(argv, int(outcome["returncode"]), "", str(outcome["stderr"]))
            if check and result.returncode != 0:
                raise CommandError(argv, result.returncode, result.output)
            return result
        return proc.Result(argv, 0, "", "")

    def compose_watched(
        self,
        project: str,
        files: Sequence[Path],
        env_file: Path | None,
        *args: str,
        on_line: proc.OnLine,
        on_tick: proc.OnTick,
    ) -> proc.Result:
        """compose(), its recorded output handed over line by line (each `line_seconds` on the clock
        later when there is one) with a tick after each, as proc.watch does."""
        result = self.compose(project, files, env_file, *args, check=False)
        for line in result.output.splitlines():
            if self.clock is not None:
                self.clock.now += self.line_seconds
            on_line(line)
            on_tick()
        return proc.Result(result.argv, result.returncode, result.output, "")

    def logs(self, name: str, tail: int | None = None, check: bool = True) -> str:
        self.logs_read.append((name, tail))
        lines = self.container_output.get(name, "").splitlines()
        return "\n".join(lines[-tail:] if tail else lines)

    def volume_create(self, name: str, labels: Mapping[str, str]) -> dict[str, str]:
        """As the engine does: a name is created once, a second create returns the first one's labels."""
        return dict(self.volumes.setdefault(name, dict(labels)))

    def volume_labels(self, name: str) -> dict[str, str] | None:
        return dict(self.volumes[name]) if name in self.volumes else None

    def volumes_with_label(self, label: str) -> list[str]:
        key, _, value = label.partition("=")
        return sorted(name for name, labels in self.volumes.items() if labels.get(key) == value)

    def volume_rm(self, names: Sequence[str]) -> proc.Result:
        for name in names:
            self.volumes.pop(name, None)
        return proc.Result(["docker", "volume", "rm", *names], 0, "", "")

    def image_inspect(self, ref: str) -> dict[str, object] | None:
        labels = self.images.get(ref)
        return None if labels is None else {"Id": f"sha256:{ref}", "Config": {"Labels": labels}}


def labelled(revision: str) -> dict[str, str]:
    """An image's labels naming the commit it was built from."""
    return {REVISION: revision}
