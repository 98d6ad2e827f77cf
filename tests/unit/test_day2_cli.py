"""`lmsops ps | logs | exec | run`: each checks the environment, the services and the command before
the engine is asked anything (one line, exit 2), then calls the environment's Target; exit codes are
passed through."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from lmsops.cli import day2
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.targets.base import LogOptions, NodeEngines, Task
from tests.unit.cli_fakes import lmsops

STARTED = "2026-11-27T15:01:48.595343848Z"


class DayTwoTarget:
    """A target that records what the day-2 commands ask of it."""

    def __init__(self, tasks: Sequence[Task] = (), code: int = 0) -> None:
        self.rows, self.code = list(tasks), code
        self.asked: list[tuple[Any, ...]] = []

    def tasks(self) -> list[Task]:
        self.asked.append(("tasks",))
        return self.rows

    def logs(self, services: Sequence[str], options: LogOptions, out: Any) -> None:
        self.asked.append(("logs", list(services), options))
        out("catalog-1  | started")

    def exec_in(self, service: str, command: Sequence[str], *, tty: bool, node_engines: NodeEngines) -> int:
        self.asked.append(("exec", service, list(command), tty))
        return self.code

    def run_once(self, service: str, command: Sequence[str], *, tty: bool, report: Reporter) -> int:
        self.asked.append(("run", service, list(command), tty))
        return self.code


class Engine:
    def require_engine(self) -> str:
        return "20.10.24"


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch, project: Repo) -> DayTwoTarget:
    fake = DayTwoTarget()
    fake.engine = Engine()  # type: ignore[attr-defined]
    made: list[str] = []

    def target_for(repo: Repo, docker: object, env: Any) -> DayTwoTarget:
        made.append(env.name)
        return fake

    monkeypatch.setattr(day2, "repository", lambda: project)
    monkeypatch.setattr(day2, "engine", lambda: object())
    monkeypatch.setattr(day2, "target_for", target_for)
    monkeypatch.setattr(sys, "stdin", type("NotATerminal", (), {"isatty": staticmethod(lambda: False)})())
    return fake


def task(service: str, node: str = "", **kw: str) -> Task:
    values = {"state": "running", "health": "healthy", "image": f"lmsops/{service}:1", "started": STARTED, "ports": ""}
    values |= kw
    return Task(service, f"lms-dev-{service}-1", node, **values)


def test_ps_prints_a_table_without_a_node_column_on_compose(
    capsys: pytest.CaptureFixture[str], target: DayTwoTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.rows = [task("catalog"), task("gateway", ports="127.0.0.1:8000->8080/tcp", health="-", started="")]
    monkeypatch.setattr(day2, "uptime", lambda started: "5 min" if started else "-")
    outcome = lmsops(capsys, "ps", "dev")
    assert outcome.code == 0
    assert outcome.out.splitlines() == [
        "SERVICE  NAME               STATE    HEALTH   IMAGE             UP     PORTS",
        "catalog  lms-dev-catalog-1  running  healthy  lmsops/catalog:1  5 min  -",
        "gateway  lms-dev-gateway-1  running  -        lmsops/gateway:1  -      127.0.0.1:8000->8080/tcp",
    ]


def test_ps_names_the_node_of_each_swarm_task_and_prints_json_when_asked(
    capsys: pytest.CaptureFixture[str], target: DayTwoTarget
) -> None:
    target.rows = [task("catalog", node="vm")]
    assert lmsops(capsys, "ps", "staging").out.splitlines()[0].split() == [
        "SERVICE", "NAME", "NODE", "STATE", "HEALTH", "IMAGE", "UP", "PORTS",
    ]  # fmt: skip
    rows = json.loads(lmsops(capsys, "ps", "staging", "--json").out)
    assert rows[0]["service"] == "catalog" and rows[0]["node"] == "vm" and rows[0]["started"] == STARTED
    assert set(rows[0]) == {"service", "name", "node", "state", "health", "image", "started", "ports", "uptime"}


def test_ps_of_an_environment_with_nothing_deployed_says_so(
    capsys: pytest.CaptureFixture[str], target: DayTwoTarget
) -> None:
    assert lmsops(capsys, "ps", "dev").out == "dev: nothing is deployed (nox -s deploy -- dev)\n"


def test_uptime_is_short() -> None:
    now = datetime(2026, 11, 27, 16, 0, 0, tzinfo=UTC)
    assert [day2.uptime(t, now) for t in ("2026-11-27T15:59:18.5Z", "2026-11-27T15:01:48.595343848Z",
            "2026-11-27T13:00:00Z", "2026-11-24T16:00:00Z", "", "0001-01-01T00:00:00Z", "yesterday")] == [
        "42 s", "58 min", "3 h", "3 d", "-", "-", "?",
    ]  # fmt: skip


def test_logs_pass_the_services_and_options_and_print_each_line(
    capsys: pytest.CaptureFixture[str], target: DayTwoTarget
) -> None:
    outcome = lmsops(capsys, "logs", "dev", "catalog", "gateway", "--follow", "--since", "10m", "--tail", "20")
    assert (outcome.code, outcome.out) == (0, "catalog-1  | started\n")
    assert target.asked == [("logs", ["catalog", "gateway"], LogOptions(True, "10m", 20))]


def test_logs_of_an_unknown_service_name_the_known_ones_before_asking_the_engine(
    capsys: pytest.CaptureFixture[str], target: DayTwoTarget
) -> None:
    outcome = lmsops(capsys, "logs", "dev", "catalog", "catalgo")
    assert outcome.code == 2
    assert outcome.error_line() == (
        "dev has no service 'catalgo'; its services are: catalog, enrollment, gateway, gateway-routes, postgres"
    )
    assert target.asked == []


def test_an_unknown_environment_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], target: DayTwoTarget
) -> None:
    outcome = lmsops(capsys, "exec", "qa", "catalog", "--", "ls")
    assert outcome.code == 2
    assert outcome.error_line().startswith("unknown environment 'qa'")
    assert target.asked == []


@pytest.mark.parametrize("command", ["exec", "run"])
def test_exec_and_run_without_a_command_say_how_to_give_one(
    capsys: pytest.CaptureFixture[str], target: DayTwoTarget, command: str
) -> None:
    for argv in (["dev", "catalog"], ["dev", "catalog", "--"]):
        outcome = lmsops(capsys, command, *argv)
        assert outcome.code == 2
        assert outcome.error_line() == (
            f"{command} needs a command after `--`: nox -s {command} -- dev catalog -- CMD [ARG...]"
        )
    assert target.asked == []


@pytest.mark.parametrize("command", ["exec", "run"])
def test_exec_and_run_pass_the_command_verbatim_and_its_exit_code_through(
    capsys: pytest.CaptureFixture[str], target: DayTwoTarget, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.code = 3
    outcome = lmsops(capsys, command, "dev", "catalog", "--", "python3", "-c", "exit(3)", "--", "-x")
    assert outcome.code == 3
    assert target.asked == [(command, "catalog", ["python3", "-c", "exit(3)", "--", "-x"], False)]
    monkeypatch.setattr(sys, "stdin", type("Terminal", (), {"isatty": staticmethod(lambda: True)})())
    lmsops(capsys, command, "dev", "catalog", "sh")  # `--` may be left out when the command has no option
    assert target.asked[-1] == (command, "catalog", ["sh"], True), "a terminal when stdin is one"


def test_exec_of_an_unknown_service_is_refused(capsys: pytest.CaptureFixture[str], target: DayTwoTarget) -> None:
    outcome = lmsops(capsys, "run", "staging", "nope", "--", "ls")
    assert outcome.code == 2 and "staging has no service 'nope'" in outcome.error_line()


def test_a_bad_tail_is_argparses_usage_error(capsys: pytest.CaptureFixture[str], target: DayTwoTarget) -> None:
    outcome = lmsops(capsys, "logs", "dev", "--tail", "many")
    assert outcome.code == 2 and "'many' is not a number of lines" in outcome.err
