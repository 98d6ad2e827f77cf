"""noxfile.py, loaded with a stand-in for nox (nox is the runner's tool, not installed in the test
environment): the sessions that call the engine pass its configuration (2) and prerequisite (3) exit
codes through to the shell, the day-2 sessions exist and forward their arguments, and every session
names a command the engine has. (The real nox doing the same: tests/integration/test_quickstart.py.)"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lmsops.cli import parser
from tests.unit.conftest import PROJECT


class CommandFailed(Exception):  # noqa: N818 (nox's name)
    """nox.command.CommandFailed as nox 2024.10+ raises it from Session.run."""

    def __init__(self, reason: str | None = None, *, return_code: int | None = None) -> None:
        super().__init__(reason)
        self.return_code = return_code


@dataclass
class Registered:
    func: Callable[..., None]
    name: str
    tags: list[str]
    default: bool


@dataclass
class FakeSession:
    posargs: list[str]
    exit_code: int = 0
    runs: list[tuple[str, ...]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def install(self, *args: str) -> None:
        pass

    def run(self, *args: str, **kwargs: Any) -> None:
        self.runs.append(args)
        if args[:3] == ("python", "-m", "lmsops") and self.exit_code:
            raise CommandFailed(f"Returned code {self.exit_code}", return_code=self.exit_code)

    def log(self, message: str) -> None:
        self.logs.append(message)


@pytest.fixture(scope="module")
def noxfile() -> Iterator[tuple[types.ModuleType, dict[str, Registered]]]:
    sessions: dict[str, Registered] = {}

    def session(
        func: Callable[..., None] | None = None, *, name: str | None = None, tags: list[str] | None = None,
        default: bool = True, **_: Any,
    ) -> Any:  # fmt: skip
        def register(f: Callable[..., None]) -> Callable[..., None]:
            sessions[name or f.__name__] = Registered(f, name or f.__name__, tags or [], default)
            return f

        return register(func) if func is not None else register

    fake = types.ModuleType("nox")
    fake.session = session  # type: ignore[attr-defined]
    fake.parametrize = lambda *_a, **_k: lambda f: f  # type: ignore[attr-defined]
    fake.options = argparse.Namespace()  # type: ignore[attr-defined]
    fake.Session = FakeSession  # type: ignore[attr-defined]
    command = types.ModuleType("nox.command")
    command.CommandFailed = CommandFailed  # type: ignore[attr-defined]
    fake.command = command  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in ("nox", "nox.command")}
    sys.modules.update({"nox": fake, "nox.command": command})
    try:
        spec = importlib.util.spec_from_file_location("lmsops_noxfile", PROJECT.root / "noxfile.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(PROJECT.root)  # it discovers services and environments from the working folder
            spec.loader.exec_module(module)
        yield module, sessions
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def engine_commands() -> set[str]:
    [subparsers] = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return set(subparsers.choices)


def called(registered: Registered) -> tuple[str, ...]:
    session = FakeSession(posargs=["ARG"])
    registered.func(session)
    return session.runs[-1]


@pytest.mark.parametrize(("code", "meaning"), [(2, "configuration"), (3, "prerequisites")])
def test_configuration_and_prerequisite_errors_reach_the_shell(
    noxfile: tuple[types.ModuleType, dict[str, Registered]], code: int, meaning: str
) -> None:
    """nox exits 1 for any failed session; `nox -s config -- prod` must exit 2 as the engine does."""
    _, sessions = noxfile
    session = FakeSession(posargs=["nosuchenv"], exit_code=code)
    with pytest.raises(SystemExit) as exited:
        sessions["config"].func(session)
    assert exited.value.code == code
    assert session.runs[-1] == ("python", "-m", "lmsops", "config", "nosuchenv")
    assert session.logs == [f"lmsops exited {code} ({meaning}): nox exits with it"]


@pytest.mark.parametrize("code", [1, 4, 130])
def test_other_failures_stay_nox_failures(noxfile: tuple[types.ModuleType, dict[str, Registered]], code: int) -> None:
    """A drift found (1) and the rest: the session fails as nox's own (exit 1, the next sessions still run)."""
    _, sessions = noxfile
    with pytest.raises(CommandFailed):
        sessions["drift"].func(FakeSession(posargs=["dev"], exit_code=code))


@pytest.mark.parametrize("name", ["plan", "ps", "logs", "exec", "run"])
def test_day_2_sessions_forward_their_arguments(
    noxfile: tuple[types.ModuleType, dict[str, Registered]], name: str
) -> None:
    _, sessions = noxfile
    registered = sessions[name]
    assert (registered.tags, registered.default) == (["env"], False)
    assert registered.func.__doc__
    session = FakeSession(posargs=["staging", "catalog", "--", "python", "-V"])
    registered.func(session)
    assert session.runs == [("python", "-m", "lmsops", name, "staging", "catalog", "--", "python", "-V")]


def test_every_engine_session_names_a_command_of_the_engine(
    noxfile: tuple[types.ModuleType, dict[str, Registered]],
) -> None:
    _, sessions = noxfile
    thin = {
        name: called(s)
        for name, s in sessions.items()
        if name not in {"lint", "unit", "integration", "conformance", "quickstart"}
    }
    assert all(argv[:3] == ("python", "-m", "lmsops") and argv[-1] == "ARG" for argv in thin.values()), thin
    assert {argv[3] for argv in thin.values()} <= engine_commands()
    assert {"plan", "ps", "logs", "exec", "run"} <= set(thin)


def test_sessions_that_act_on_an_environment_are_not_run_by_default(
    noxfile: tuple[types.ModuleType, dict[str, Registered]],
) -> None:
    _, sessions = noxfile
    assert {"lint", "unit", "integration"} <= {name for name, s in sessions.items() if s.default}
    assert [name for name, s in sessions.items() if "env" in s.tags and s.default] == []


def test_conformance_is_a_session_of_its_own_not_run_again_by_nox(
    noxfile: tuple[types.ModuleType, dict[str, Registered]],
) -> None:
    """`nox` checks conformance inside the integration session, on the environments it deploys anyway
    (test_environments.py); CI's matrix runs `nox -s conformance -- ENV` per environment."""
    _, sessions = noxfile
    assert not sessions["conformance"].default
    source = (Path(__file__).parents[1] / "integration" / "test_environments.py").read_text()
    assert "run_conformance(" in source


@pytest.mark.parametrize("name", ["exec", "run"])
@pytest.mark.parametrize("code", [1, 4, 42])
def test_the_exit_code_of_a_users_command_reaches_the_shell(
    noxfile: tuple[types.ModuleType, dict[str, Registered]], name: str, code: int
) -> None:
    """`nox -s exec -- dev catalog -- sh -c 'exit 42'` exits 42, as `docker exec` does."""
    _, sessions = noxfile
    session = FakeSession(posargs=["dev", "catalog", "--", "false"], exit_code=code)
    with pytest.raises(SystemExit) as exited:
        sessions[name].func(session)
    assert exited.value.code == code
