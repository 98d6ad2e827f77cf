"""Reading writes back after a scenario: server errors are retried, never counted as lost; p99 by nearest rank."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lmsops.resilience import run
from lmsops.resilience.load import Created, LoadResult, Outcome
from lmsops.resilience.report import summarise
from lmsops.resilience.session import ResilienceError
from tests.unit.test_resilience_fakes import FakeLms, serving


@pytest.fixture
def lms() -> Iterator[FakeLms]:
    with serving() as server:
        yield server


def test_a_gateway_error_on_the_course_pages_is_a_resilience_error(
    lms: FakeLms, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the gateway answers 502 (upstream not ready) to the listing: _check_writes calls .json()["items"] on it
    monkeypatch.setattr("lmsops.resilience.run.time.sleep", lambda _s: None)
    original = lms.answer
    monkeypatch.setattr(
        lms, "answer", lambda m, t, r: (502, {"detail": "bad gateway"}) if "offset=" in t else original(m, t, r)
    )
    with pytest.raises(ResilienceError):
        run._check_writes([lms.url], LoadResult(attempted_codes=["rzt-1"]))


def test_an_acknowledged_write_is_not_lost_because_of_a_5xx_on_read_back(
    lms: FakeLms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lmsops.resilience.run.time.sleep", lambda _s: None)
    kept = lms.add_course("rzt-1")
    original = lms.answer
    calls = iter([(502, {"detail": "bad gateway"})])
    monkeypatch.setattr(lms, "answer", lambda m, t, r: next(calls, None) or original(m, t, r))
    assert run._check_writes([lms.url], LoadResult(acknowledged=[Created("course", kept, "rzt-1")])) == (0, 0)


def test_the_error_after_only_503_answers_says_so(lms: FakeLms, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lmsops.resilience.run.time.sleep", lambda _s: None)
    lms.mode = "503"
    with pytest.raises(ResilienceError, match="503"):
        run._check_writes([lms.url], LoadResult(acknowledged=[Created("course", 1, "rzt-1")]))


def test_p99_of_100_answers_is_not_the_maximum() -> None:
    outcomes = [Outcome(0.0, "GET", "/catalog/courses", "ok", n / 1000) for n in range(1, 101)]
    summary = summarise("s", "s", "g", outcomes, recovery_s=None, lost_writes=0, half_applied=0, restarted=[])
    assert summary.max_ms == 100.0
    assert summary.p99_ms == 99.0  # nearest rank: the 99th of 100
