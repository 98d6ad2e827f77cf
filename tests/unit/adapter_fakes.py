"""Unit-test helpers for the adapter seams: a scripted engine behind lmsops.core.proc, a fake clock
for the code that polls, and a Context whose plan and builds are stubbed.

Every program lmsops runs goes through lmsops.core.proc, and proc through its `subprocess` module.
`scripted_engine(monkeypatch)` replaces that module inside proc only: each call is recorded (argv,
environment, input, timeout) and answered from a script of canned (stdout, stderr, exit code)
answers, so the real proc.run / stream / pipe code and the real Docker adapter run unchanged above
it, with no engine needed.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import subprocess
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.progress import Reporter
from lmsops.drift.compare import Difference
from lmsops.environments.config import Environment
from lmsops.environments.model import Model
from lmsops.images.build import Built
from lmsops.images.context import Context
from lmsops.images.plan import PlannedImage
from lmsops.releases.history import Release
from lmsops.targets.base import Applied, ServiceStatus


@dataclass(frozen=True)
class Answer:
    """What a scripted program answers: its output and exit code, or an exception from subprocess."""

    stdout: str = ""
    stderr: str = ""
    returncode: int = 0
    raises: BaseException | None = None


@dataclass
class Call:
    """One program run through proc, as subprocess was asked to run it."""

    argv: list[str]
    env: dict[str, str] | None
    input: bytes | None
    timeout: float | None
    stdin: Any = None

    @property
    def args(self) -> list[str]:
        """argv without the program and its global `--context NAME`: the verb and its arguments."""
        args = self.argv[1:]
        return args[2:] if args[:1] == ["--context"] else args


Handler = Callable[[Call], Answer]


class ScriptedEngine:
    """Stands in for subprocess under lmsops.core.proc: records every call, answers from a script.

    `answer("image", "inspect", stdout=...)` answers every call whose args (see Call.args) start with
    those words; several answers for the same words are given in turn, the last one then repeats.
    The longest matching prefix wins. A call nothing was scripted for succeeds with no output.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._script: dict[tuple[str, ...], list[Handler]] = {}

    # -- scripting ------------------------------------------------------------------------------
    def answer(
        self,
        *prefix: str,
        stdout: str = "",
        stderr: str = "",
        returncode: int = 0,
        raises: BaseException | None = None,
    ) -> None:
        fixed = Answer(stdout, stderr, returncode, raises)
        self.on(*prefix, handler=lambda _call: fixed)

    def on(self, *prefix: str, handler: Handler) -> None:
        """Answer calls starting with prefix by handler(call) (stateful fakes: a config store ...)."""
        self._script.setdefault(tuple(prefix), []).append(handler)

    def forget(self, *prefix: str) -> None:
        """Drop what was scripted for exactly these words (a test changing its fixture's script)."""
        self._script.pop(tuple(prefix), None)

    # -- what was run ---------------------------------------------------------------------------
    @property
    def argvs(self) -> list[list[str]]:
        return [call.argv for call in self.calls]

    @property
    def verbs(self) -> list[list[str]]:
        return [call.args for call in self.calls]

    # -- the subprocess module proc sees --------------------------------------------------------
    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake = types.SimpleNamespace(
            run=self._run,
            Popen=self._popen,
            PIPE=subprocess.PIPE,
            STDOUT=subprocess.STDOUT,
            DEVNULL=subprocess.DEVNULL,
            TimeoutExpired=subprocess.TimeoutExpired,
        )
        monkeypatch.setattr(proc, "subprocess", fake)

    def _answer(self, call: Call) -> Answer:
        self.calls.append(call)
        matching = [prefix for prefix in self._script if tuple(call.args[: len(prefix)]) == prefix]
        if not matching:
            return Answer()
        handlers = self._script[max(matching, key=len)]
        handler = handlers.pop(0) if len(handlers) > 1 else handlers[0]
        answer = handler(call)
        if answer.raises is not None:
            raise answer.raises
        return answer

    def _run(
        self,
        argv: Sequence[str],
        *,
        cwd: Any = None,
        env: dict[str, str] | None = None,
        input: bytes | None = None,
        capture_output: bool = False,
        timeout: float | None = None,
        check: bool = False,
        stdin: Any = None,
    ) -> subprocess.CompletedProcess[bytes]:
        answer = self._answer(Call(list(argv), env, input, timeout, stdin))
        return subprocess.CompletedProcess(
            list(argv), answer.returncode, answer.stdout.encode(), answer.stderr.encode()
        )

    def _popen(self, argv: Sequence[str], **kwargs: Any) -> FakePopen:
        answer = self._answer(Call(list(argv), kwargs.get("env"), None, None, kwargs.get("stdin")))
        merged = kwargs.get("stderr") == subprocess.STDOUT
        return FakePopen(answer, merged)


class FakePopen:
    """The Popen object proc.stream and proc.pipe read: output pipes and an exit code."""

    def __init__(self, answer: Answer, merged: bool) -> None:
        self.stdout = io.BytesIO((answer.stdout + answer.stderr if merged else answer.stdout).encode())
        self.stderr = None if merged else io.BytesIO(answer.stderr.encode())
        self.returncode = answer.returncode

    def wait(self) -> int:
        return self.returncode

    def poll(self) -> int:
        return self.returncode


def scripted_engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    engine = ScriptedEngine()
    engine.install(monkeypatch)
    return engine


class FakeClock:
    """time.monotonic and time.sleep for a module that polls: sleeping advances the clock at once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fake_clock(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType) -> FakeClock:
    """Replace `time` inside module (which imports it as `import time`) by a FakeClock."""
    clock = FakeClock()
    monkeypatch.setattr(module, "time", clock)
    return clock


def reporter() -> tuple[Reporter, io.StringIO]:
    """A Reporter writing into a buffer the test reads."""
    out = io.StringIO()
    return Reporter(out), out


@dataclass
class StubContext(Context):
    """A Context whose plan is given and whose builds are only recorded (no plan_images, no build)."""

    planned: list[PlannedImage] = field(default_factory=list)
    built_only: list[list[str]] = field(default_factory=list)
    builds: int = 0

    def plan(self) -> list[PlannedImage]:
        return self.planned

    def build(self) -> list[Built]:
        self.builds += 1
        return []

    def build_only(self, names: list[str]) -> list[Built]:
        self.built_only.append(list(names))
        return []

    def reference(self, name: str) -> str:
        return f"lmsops/{name}:stub"


class SwarmConfigs:
    """The engine's Swarm config store behind a ScriptedEngine: `docker config create NAME -` keeps the
    data read from stdin (a name is created once), `config ls --quiet --filter label=...` and
    `config inspect ID...` answer as the engine does (Spec.Data base64)."""

    def __init__(self, engine: ScriptedEngine) -> None:
        self.configs: dict[str, dict[str, Any]] = {}
        engine.on("config", "create", handler=self._create)
        engine.on("config", "ls", handler=self._ls)
        engine.on("config", "inspect", handler=self._inspect)

    def _create(self, call: Call) -> Answer:
        args = call.args[2:]
        labels = dict(value.split("=", 1) for flag, value in itertools.pairwise(args) if flag == "--label")
        name = args[-2]
        if name in self.configs:
            return Answer(stderr=f"Error response from daemon: config {name} already exists", returncode=1)
        data = base64.b64encode(call.input or b"").decode()
        config_id = f"id{len(self.configs) + 1:04d}"
        self.configs[name] = {"ID": config_id, "Spec": {"Name": name, "Labels": labels, "Data": data}}
        return Answer(stdout=config_id + "\n")

    def _ls(self, call: Call) -> Answer:
        wanted = call.args[call.args.index("--filter") + 1].removeprefix("label=")
        key, _, value = wanted.partition("=")
        found = [
            config["ID"]
            for config in self.configs.values()
            if key in config["Spec"]["Labels"] and (not value or config["Spec"]["Labels"][key] == value)
        ]
        return Answer(stdout="".join(f"{config_id}\n" for config_id in reversed(found)))  # newest first

    def _inspect(self, call: Call) -> Answer:
        by_id = {config["ID"]: config for config in self.configs.values()}
        return Answer(stdout=json.dumps([by_id[config_id] for config_id in call.args[2:]]))


class ScriptedTarget:
    """A Target (lmsops.targets.base) with scripted answers that records what it is asked, in order:
    `calls` names every method called ("lock <command>" for the deploy lock), `applied` the model
    text found at the path apply was given, `accepted` the notes accept was given."""

    def __init__(
        self,
        env: Environment,
        engine: Docker,
        *,
        rows: Sequence[ServiceStatus] = (),
        drift: Sequence[Difference] = (),
        releases: Sequence[Release] = (),
        changed: Sequence[str] = (),
        unchanged: Sequence[str] = (),
        accepted_release: Release | None = None,
    ) -> None:
        self.env, self.engine = env, engine
        self.rows, self.differences, self.releases = list(rows), list(drift), list(releases)
        self.changed, self.unchanged, self.accepted_release = list(changed), list(unchanged), accepted_release
        self.calls: list[str] = []
        self.applied: list[tuple[Model, Path, str]] = []
        self.accepted: list[str] = []
        self.description = f"scripted target {env.target.name}"

    def prepare(self, report: Reporter, *, init_swarm: bool = False) -> None:
        self.calls.append("prepare --init-swarm" if init_swarm else "prepare")

    @contextmanager
    def locked(self, command: str, policy: Any, report: Reporter) -> Iterator[None]:
        self.calls.append(f"lock {command}")
        try:
            yield
        finally:
            self.calls.append("unlock")

    def status(self) -> list[ServiceStatus]:
        self.calls.append("status")
        return self.rows

    def drift(self, model: Model, images: Docker) -> list[Difference]:
        self.calls.append("drift")
        return self.differences

    def history(self) -> list[Release]:
        self.calls.append("history")
        return self.releases

    def apply(self, model: Model, path: Path, report: Reporter) -> Applied:
        self.calls.append("apply")
        self.applied.append((model, path, path.read_text()))
        return Applied(self.changed, self.unchanged)

    def accept(self, model: Model, path: Path, note: str, report: Reporter) -> Release | None:
        self.calls.append("accept")
        self.accepted.append(note)
        return self.accepted_release

    def logs_command(self, service: str) -> str:
        return f"logs of {service}"
