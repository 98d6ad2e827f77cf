"""lmsops.resilience.load against a real HTTP server on loopback (tests/unit/test_resilience_fakes.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from lmsops.resilience import load as load_module
from lmsops.resilience.load import MODULES_PER_COURSE, Created, Load, LoadResult, LoadShape, Outcome, classify
from tests.unit.test_resilience_fakes import FakeLms, refused, serving, wait_for

FAST = LoadShape(clients=1, per_client_rate=1000.0, write_share=5, max_seconds=30.0, max_requests=20)


@pytest.fixture
def lms() -> Iterator[FakeLms]:
    with serving() as server:
        yield server


def run_to_end(bases: list[str], shape: LoadShape, seed: int = 1, prefix: str = "rzt-") -> LoadResult:
    with Load(bases, shape, seed, prefix) as load:
        wait_for(lambda: not load.running)
    assert load.error is None
    return load.result


def test_one_client_follows_the_mix_and_stops_at_its_budget(lms: FakeLms) -> None:
    seed = lms.add_course("rzt-seed")
    result = run_to_end([lms.url], FAST, seed)

    assert len(result.outcomes) == 20 == len(lms.requests)
    assert {o.kind for o in result.outcomes} == {"ok"}
    assert [o.method for o in result.outcomes].count("POST") == 20 // FAST.write_share
    assert [(o.method, o.path) for o in result.outcomes[:6]] == [
        ("POST", "/catalog/courses"),
        ("GET", "/catalog/courses/{id}"),
        ("GET", "/enrollment/enrollments"),
        ("GET", "/catalog/courses"),
        ("GET", "/catalog/courses/{id}"),
        ("POST", "/enrollment/enrollments"),
    ]
    assert {path for method, path in lms.requests if method == "GET"} == {
        "/catalog/courses?limit=5",
        f"/catalog/courses/{seed}",
        f"/enrollment/enrollments?course_id={seed}&limit=5",
    }
    # steps 0, 5, 10, 15 write: courses rzt-1 and rzt-3, enrollments 2 and 4 in the seed course
    assert result.attempted_codes == ["rzt-1", "rzt-3"]
    by_code = {course["code"]: course["id"] for course in lms.courses.values()}
    assert result.acknowledged == [
        Created("course", by_code["rzt-1"], "rzt-1"),
        Created("enrollment", 1, ""),
        Created("course", by_code["rzt-3"], "rzt-3"),
        Created("enrollment", 2, ""),
    ]
    assert all(len(lms.courses[by_code[code]]["modules"]) == MODULES_PER_COURSE for code in ("rzt-1", "rzt-3"))
    assert [e["course_id"] for e in lms.enrollments.values()] == [seed, seed]
    assert [e["learner_id"] for e in lms.enrollments.values()] == ["rzt--2", "rzt--4"]


def test_several_clients_keep_the_write_share_and_the_request_budget(lms: FakeLms) -> None:
    shape = LoadShape(clients=4, per_client_rate=1000.0, write_share=4, max_seconds=30.0, max_requests=120)
    result = run_to_end([lms.url], shape)

    # each client checks the budget before its request: at most one in flight per other client
    assert shape.max_requests <= len(result.outcomes) <= shape.max_requests + shape.clients - 1
    assert len(result.outcomes) == len(lms.requests)
    writes = sum(1 for o in result.outcomes if o.method == "POST")
    assert abs(writes - len(result.outcomes) / shape.write_share) <= shape.clients
    assert len(set(result.attempted_codes)) == len(result.attempted_codes) > 0
    assert sorted(c.code for c in result.acknowledged if c.kind == "course") == sorted(result.attempted_codes)
    assert len(result.acknowledged) == writes


def test_stop_ends_the_load_and_nothing_is_sent_after(lms: FakeLms) -> None:
    shape = LoadShape(clients=2, per_client_rate=200.0, max_seconds=60.0, max_requests=1_000_000)
    since = time.monotonic()
    with Load([lms.url], shape, 1, "rzt-") as load:
        wait_for(lambda: load.answered(since) >= 10)
        result = load.stop()
        assert not load.running
        answered = len(result.outcomes)
        assert 10 <= answered < shape.max_requests
        time.sleep(0.05)  # a bounded look: nothing more arrives
        assert len(result.outcomes) == answered == len(lms.requests)
    assert load.error is None


def test_the_load_ends_at_its_deadline(lms: FakeLms) -> None:
    shape = LoadShape(clients=2, per_client_rate=100.0, max_seconds=0.2, max_requests=1_000_000)
    with Load([lms.url], shape, 1, "rzt-") as load:
        wait_for(lambda: not load.running, timeout=5)  # ended by itself: no stop(), budget far away
    # Paced at 10 ms a request, a client starts at most 1 + 20 requests in its 0.2 s. How many it did
    # start depends on how busy the machine is (none, when creating the clients took the 0.2 s).
    most = shape.clients * (1 + round(shape.per_client_rate * shape.max_seconds))
    assert len(load.result.outcomes) <= most == 42
    assert load.error is None


def test_a_503_is_classified_with_its_body_and_no_write_acknowledged(lms: FakeLms) -> None:
    lms.mode = "503"
    result = run_to_end([lms.url], LoadShape(clients=1, per_client_rate=1000.0, max_requests=10))

    assert {o.kind for o in result.outcomes} == {"status 503"}
    assert all("database unavailable" in o.body for o in result.outcomes)
    assert result.acknowledged == []
    assert result.attempted_codes == ["rzt-1"]  # attempted, not acknowledged: looked for afterwards


def test_a_connection_closed_without_an_answer_is_a_connection_error(lms: FakeLms) -> None:
    lms.mode = "close"
    result = run_to_end([lms.url], LoadShape(clients=1, per_client_rate=1000.0, max_requests=6))

    assert [o.kind for o in result.outcomes] == ["connection error"] * 6
    assert all(o.body.startswith("RemoteProtocolError") for o in result.outcomes)
    assert result.acknowledged == []
    # Reads were sent again once (as browsers do after a keep-alive close), writes never: the mix
    # of six requests for one client is write, read, read, read, read, write.
    assert result.client_retries == 4
    assert lms.posted() == 2  # each write sent once


def test_a_read_closed_once_without_an_answer_succeeds_when_sent_again(lms: FakeLms) -> None:
    original = lms.answer
    closed: list[str] = []

    def close_the_first_read_only(method: str, target: str, raw: bytes) -> tuple[int, object] | None:
        if method == "GET" and not closed:
            closed.append(target)
            lms.mode = "close"  # no answer, this once
        answer = original(method, target, raw)
        lms.mode = "ok"
        return answer

    lms.answer = close_the_first_read_only  # type: ignore[method-assign]
    result = run_to_end([lms.url], LoadShape(clients=1, per_client_rate=1000.0, max_requests=3))

    assert [o.kind for o in result.outcomes] == ["ok", "ok", "ok"]
    assert result.client_retries == 1 and len(closed) == 1


def test_an_answer_later_than_the_timeout_is_a_timeout(lms: FakeLms, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_module, "REQUEST_TIMEOUT", 0.2)
    lms.mode = "slow"
    result = run_to_end([lms.url], LoadShape(clients=1, per_client_rate=1000.0, max_requests=2))

    assert [o.kind for o in result.outcomes] == ["timeout", "timeout"]
    assert all(0.15 <= o.latency < 2.0 for o in result.outcomes)
    assert all(o.body.startswith("ReadTimeout") for o in result.outcomes)
    assert result.acknowledged == []


def test_an_unexpected_answer_stops_the_load_with_its_error(lms: FakeLms) -> None:
    lms.mode = "no id"
    with Load([lms.url], FAST, 1, "rzt-") as load:
        wait_for(lambda: not load.running)

    assert isinstance(load.error, KeyError)  # kept for the runner to report, not swallowed
    assert [o.kind for o in load.result.outcomes] == ["ok"]
    assert load.result.acknowledged == []


def test_a_refused_node_falls_over_to_the_next_for_the_same_request(lms: FakeLms) -> None:
    with refused() as dead:
        result = run_to_end([dead, lms.url], FAST)

    assert len(result.outcomes) == FAST.max_requests == len(lms.requests)  # one outcome per request
    assert {o.kind for o in result.outcomes} == {"ok"}
    assert len(result.acknowledged) == 4


def test_every_node_refusing_is_a_connection_error() -> None:
    with refused() as first, refused() as second:
        result = run_to_end([first, second], LoadShape(clients=1, per_client_rate=1000.0, max_requests=3))

    assert [o.kind for o in result.outcomes] == ["connection error"] * 3
    assert all(o.body.startswith("ConnectError") for o in result.outcomes)


def test_no_other_node_once_a_request_was_sent() -> None:
    # a closed connection may have applied the write: it is not sent again elsewhere
    with serving() as closing, serving() as other:
        closing.mode = "close"
        result = run_to_end([closing.url, other.url], LoadShape(clients=1, per_client_rate=1000.0, max_requests=5))

    assert [o.kind for o in result.outcomes] == ["connection error"] * 5
    assert other.requests == []


@pytest.mark.parametrize(
    "bases",
    [[], ["https://127.0.0.1:8443"], ["127.0.0.1:8080"], ["http://127.0.0.1:8080", "ftp://127.0.0.1"]],
)
def test_only_http_addresses_are_accepted(bases: list[str]) -> None:
    with pytest.raises(ValueError, match="http://"):
        Load(bases, FAST, 1, "rzt-")


@pytest.mark.parametrize(
    ("response", "error", "kind"),
    [
        (httpx.Response(200), None, "ok"),
        (httpx.Response(201), None, "ok"),
        (httpx.Response(302), None, "status 302"),
        (httpx.Response(503), None, "status 503"),
        (None, httpx.ReadTimeout("slow"), "timeout"),
        (None, httpx.ConnectTimeout("slow"), "timeout"),
        (None, httpx.ConnectError("refused"), "connection error"),
        (None, httpx.RemoteProtocolError("closed"), "connection error"),
    ],
)
def test_classify(response: httpx.Response | None, error: BaseException | None, kind: str) -> None:
    assert classify(response, error) == kind


def test_between_and_answered_count_from_a_moment() -> None:
    kinds = ["ok", "timeout", "ok", "ok"]
    outcomes = [Outcome(float(sent), "GET", "/catalog/courses", kind, 0.01) for sent, kind in enumerate(kinds)]
    load = Load(["http://127.0.0.1:1"], FAST, 1, "rzt-")  # never started
    load.result.outcomes.extend(outcomes)

    assert [o.sent for o in load.result.between(1.0, 2.0)] == [1.0, 2.0]
    assert load.answered(0.0) == 3
    assert load.answered(1.0) == 2
    assert load.answered(3.5) == 0
