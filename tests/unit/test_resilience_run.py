"""lmsops.resilience.run and .scenarios without Docker: the choice of scenarios, when an environment
counts as recovered, and the read-back of the load's writes against a fake LMS on loopback."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import StringIO
from types import SimpleNamespace
from typing import Any, cast

import pytest

from lmsops.core.errors import ConfigError
from lmsops.core.progress import Reporter
from lmsops.resilience import goals, run
from lmsops.resilience.load import MODULES_PER_COURSE, Created, Load, LoadResult, LoadShape
from lmsops.resilience.scenarios import (
    ALL,
    NODE_LOSS,
    SCENARIOS,
    Act,
    Scenario,
    _healthy,
    recovered,
    wait_recovered,
)
from lmsops.resilience.session import ResilienceError, Session, wait_until
from lmsops.targets.base import ServiceStatus
from tests.unit.test_resilience_fakes import FakeLms, refused, serving, wait_for

LOCAL = [
    "config-change",
    "image-update",
    "route-change",
    "gateway-update",
    "kill-task",
    "postgres-restart",
]


@pytest.fixture
def lms() -> Iterator[FakeLms]:
    with serving() as server:
        yield server


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """run's pauses between read-back attempts, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr("lmsops.resilience.run.time.sleep", slept.append)
    return slept


# -- choose -------------------------------------------------------------------------------------------


def test_an_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        run.choose("dev", "compose", ["kill-task", "kill-everything"])
    assert str(raised.value) == f"no scenario 'kill-everything'; known: {', '.join([*LOCAL, 'node-loss'])}"


def test_node_loss_is_refused_on_a_compose_target() -> None:
    with pytest.raises(ConfigError, match=r"dev is a compose target; node-loss needs a Swarm environment"):
        run.choose("dev", "compose", ["kill-task", "node-loss"])


def test_default_selection_per_kind() -> None:
    assert [s.name for s in run.choose("dev", "compose", [])] == LOCAL
    assert [s.name for s in run.choose("staging", "swarm", [])] == [*LOCAL, "node-loss"]
    assert run.choose("staging", "swarm", [])[-1] is NODE_LOSS
    assert list(ALL) == [*LOCAL, "node-loss"] and [s.name for s in SCENARIOS] == LOCAL


def test_named_scenarios_in_the_order_given() -> None:
    assert [s.name for s in run.choose("dev", "compose", ["postgres-restart", "kill-task"])] == [
        "postgres-restart",
        "kill-task",
    ]
    assert run.choose("staging", "swarm", ["node-loss"]) == [NODE_LOSS]


# -- recovered ----------------------------------------------------------------------------------------


@dataclass
class FakeModel:
    services: list[str]


@dataclass
class FakeSession:
    declared: list[str]
    rows: list[ServiceStatus] = field(default_factory=list)

    def model(self) -> FakeModel:
        return FakeModel(sorted(self.declared))

    def status(self) -> list[ServiceStatus]:
        return list(self.rows)


def row(service: str, running: int = 2, desired: int = 2, health: str = "healthy") -> ServiceStatus:
    return ServiceStatus(service, desired, running, health, f"lmsops/{service}:1", "r1")


def check(fake: FakeSession, act: Act | None = None) -> Callable[[], bool]:
    return recovered(cast(Session, fake), act or Act())


def healthy_session() -> FakeSession:
    return FakeSession(["catalog", "gateway", "postgres"], [row("catalog"), row("gateway"), row("postgres", 1, 1)])


def test_recovered_when_every_declared_service_runs_its_replicas_healthy() -> None:
    assert check(healthy_session())()


def test_not_recovered_before_the_fault_was_seen() -> None:
    seen: list[bool] = []
    fake = healthy_session()
    done = check(fake, Act([], "SIGKILL", lambda: bool(seen)))

    assert not done()  # everything healthy still: the kill has not taken effect yet
    seen.append(True)
    assert done()


def test_not_recovered_until_every_declared_service_is_listed() -> None:
    fake = healthy_session()
    fake.rows = [row("catalog"), row("gateway")]
    done = check(fake)

    assert not done()
    fake.rows.append(row("postgres", 1, 1))
    assert done()
    fake.rows.append(row("rzroute"))  # listed, not declared: not the environment its files describe
    assert not done()


@pytest.mark.parametrize(("running", "desired"), [(0, 2), (1, 2), (3, 2)])
def test_not_recovered_unless_running_equals_desired(running: int, desired: int) -> None:
    fake = healthy_session()
    fake.rows[0] = row("catalog", running, desired)
    assert not check(fake)()


@pytest.mark.parametrize(
    "health",
    [
        "starting",
        "unhealthy",
        "degraded",
        "running",  # compose: a container without a health check
        "healthy, last update updating",
        "healthy, last update rollback_started",
        "healthy, last update rollback_completed",
        "healthy, last update rollback_paused",
        "healthy, last update paused",
    ],
)
def test_not_recovered_unless_healthy_and_settled(health: str) -> None:
    fake = healthy_session()
    fake.rows[1] = row("gateway", health=health)

    assert not _healthy(health)
    assert not check(fake)()


@pytest.mark.parametrize("health", ["healthy", "healthy, last update completed"])
def test_healthy(health: str) -> None:
    assert _healthy(health)


def test_wait_recovered_returns_the_seconds_it_took() -> None:
    assert 0 <= wait_recovered(cast(Session, healthy_session()), Act(), timeout=5) < 1


def test_wait_until_names_what_it_waited_for() -> None:
    with pytest.raises(ResilienceError, match=r"resilience: the gateway: not within 0 s"):
        wait_until(lambda: False, "the gateway", 0.05, every=0.01)


# -- the read-back of writes ----------------------------------------------------------------------------


def test_an_acknowledged_write_not_found_is_lost(lms: FakeLms, sleeps: list[float]) -> None:
    kept = lms.add_course("rzt-1")
    lms.enrollments[5] = {"id": 5, "learner_id": "rzt--2", "course_id": kept}
    result = LoadResult(
        acknowledged=[
            Created("course", kept, "rzt-1"),
            Created("enrollment", 5, ""),
            Created("course", 41, "rzt-3"),
            Created("enrollment", 6, ""),
        ]
    )

    assert run._check_writes([lms.url], result) == (2, 0)
    assert sleeps == []


def test_a_course_without_all_its_modules_is_half_applied(lms: FakeLms, sleeps: list[float]) -> None:
    for code, modules in [("rzt-1", 3), ("rzt-3", 2), ("rzt-5", 0), ("elsewhere", 1)]:
        lms.add_course(code, modules)
    result = LoadResult(attempted_codes=["rzt-1", "rzt-3", "rzt-5", "rzt-7"])  # rzt-7: never created, fine

    assert MODULES_PER_COURSE == 3
    assert run._check_writes([lms.url], result) == (0, 2)


def test_every_page_of_courses_is_read(lms: FakeLms, sleeps: list[float]) -> None:
    for n in range(230):
        lms.add_course(f"other-{n}")
    lms.add_course("rzt-1", 1)
    result = LoadResult(attempted_codes=["rzt-1"])

    assert run._check_writes([lms.url], result) == (0, 1)
    pages = [path for _, path in lms.requests]
    assert pages == [f"/catalog/courses?limit=100&offset={offset}" for offset in (0, 100, 200)]


def test_503_answers_are_retried(lms: FakeLms, sleeps: list[float]) -> None:
    kept = lms.add_course("rzt-1")
    lms.fail_first = 3
    result = LoadResult(acknowledged=[Created("course", kept, "rzt-1")], attempted_codes=["rzt-1"])

    assert run._check_writes([lms.url], result) == (0, 0)
    assert len(sleeps) == 3
    assert len(lms.requests) == 5  # 3 x 503, the course, the page


def test_a_refused_node_is_skipped(lms: FakeLms, sleeps: list[float]) -> None:
    kept = lms.add_course("rzt-1", 2)
    result = LoadResult(acknowledged=[Created("course", kept, "rzt-1")], attempted_codes=["rzt-1"])

    with refused() as dead:
        assert run._check_writes([dead, lms.url], result) == (0, 1)
    assert sleeps == []


def test_a_read_back_that_never_succeeds_is_an_error(lms: FakeLms, sleeps: list[float]) -> None:
    lms.mode = "503"
    result = LoadResult(acknowledged=[Created("course", 1, "rzt-1")])

    with pytest.raises(ResilienceError, match=r"reading back /catalog/courses/1 failed"):
        run._check_writes([lms.url], result)
    assert len(sleeps) == 20


def test_nothing_written_nothing_read(lms: FakeLms, sleeps: list[float]) -> None:
    assert run._check_writes([lms.url], LoadResult()) == (0, 0)
    assert lms.requests == []


# -- the seed course and the phases ---------------------------------------------------------------------


def test_seed_creates_the_course_the_enrollments_refer_to(lms: FakeLms) -> None:
    with refused() as dead:
        prefix, seed = run.seed_course([dead, lms.url])

    assert re.fullmatch(r"rz[0-9a-f]{6}-", prefix)
    assert lms.courses[seed]["code"] == f"{prefix}seed"


def test_seed_refused_by_the_lms(lms: FakeLms) -> None:
    lms.mode = "503"
    with pytest.raises(ResilienceError, match=r"creating the seed course answered 503: .*database unavailable"):
        run.seed_course([lms.url])


def test_seed_with_no_gateway_answering() -> None:
    with refused() as dead, pytest.raises(ResilienceError, match=r"no gateway answered at http://127\.0\.0\.1:"):
        run.seed_course([dead])


@dataclass
class LiveSession(FakeSession):
    """What run._measure uses of a Session: the gateway's addresses, a reporter, the model, status."""

    bases: list[str] = field(default_factory=list)
    report: Reporter = field(default_factory=lambda: Reporter(StringIO()))

    def model(self) -> Any:
        deploy = SimpleNamespace(timeout=5.0)
        return SimpleNamespace(services=sorted(self.declared), env=SimpleNamespace(file=SimpleNamespace(deploy=deploy)))


def test_measure_a_scenario_under_load(lms: FakeLms) -> None:
    seed = lms.add_course("rzt-seed")
    session = LiveSession(["catalog"], [row("catalog")], [lms.url])

    def outage(_session: Session) -> Act:
        lms.mode = "503"
        wait_for(lambda: lms.unavailable >= 5)
        lms.mode = "ok"
        return Act(["catalog"], "an outage of the fake")

    scenario = Scenario("outage", "the fake answers 503 for a while", "none failed", outage, goals.none_failed)
    shape = LoadShape(clients=2, per_client_rate=500.0, max_seconds=30.0)
    summary = run._measure(cast(Session, session), scenario, "rzt-", seed, shape)

    assert summary.scenario == "outage"
    assert summary.requests >= 2 * run.ANSWERS_BEFORE + lms.unavailable
    assert summary.failed == {"status 503": lms.unavailable}
    assert (summary.lost_writes, summary.half_applied) == (0, 0)
    assert (summary.restarted, summary.note) == (["catalog"], "an outage of the fake")
    assert summary.recovery_s is not None and summary.recovery_s >= 0
    assert any(course["code"].startswith("rzt-outage-") for course in lms.courses.values())
    stream = session.report.stream
    assert isinstance(stream, StringIO)
    printed = stream.getvalue()
    assert summary.missed == [f"{lms.unavailable} of {summary.requests} requests failed ({lms.unavailable} status 503)"]
    assert "==> outage: the fake answers 503 for a while (goal: none failed)" in printed
    assert f"goal MISSED: {lms.unavailable} of {summary.requests} requests failed" in printed
    assert f"failed: {lms.unavailable} status 503;" in printed
    assert "lost writes 0, half-applied 0; replaced: catalog" in printed


@dataclass
class FakeLoad:
    running: bool
    ok: int
    error: BaseException | None = None

    def answered(self, since: float) -> int:
        return self.ok


def test_a_phase_waits_for_its_answers() -> None:
    run._wait_answers(cast(Load, FakeLoad(True, run.ANSWERS_BEFORE)), 0.0)


def test_a_phase_fails_when_the_load_stopped() -> None:
    load = FakeLoad(False, 0, RuntimeError("boom"))
    with pytest.raises(ResilienceError, match=r"the load stopped: RuntimeError\('boom'\)"):
        run._wait_answers(cast(Load, load), 0.0)
