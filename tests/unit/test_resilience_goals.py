"""lmsops.resilience.goals: each scenario's goal as a check of its report (what fails the command),
through the checks the scenarios of lmsops.resilience.scenarios name."""

from __future__ import annotations

from typing import Any

import pytest

from lmsops.resilience.goals import missed
from lmsops.resilience.load import Outcome
from lmsops.resilience.report import ScenarioReport, summarise
from lmsops.resilience.scenarios import ALL, NEW_SERVICE, ROUTE_TABLE

JSON_503 = '{"detail":"database unavailable"}'


def report(name: str, failures: list[tuple[str, str, str]] = (), ok: int = 100, **changes: Any) -> ScenarioReport:  # type: ignore[assignment]
    """name's report: ok answered requests and one failed request per (method, kind, body)."""
    outcomes = [Outcome(0.0, "GET", "/catalog/courses", "ok", 0.01, "") for _ in range(ok)]
    outcomes += [Outcome(0.0, method, "/catalog/courses", kind, 0.01, body) for method, kind, body in failures]
    options: dict[str, Any] = {"recovery_s": 5.0, "lost_writes": 0, "half_applied": 0, "restarted": ["catalog"]}
    return summarise(name, "a summary", ALL[name].goal, outcomes, **(options | changes))


def missed_by(report: ScenarioReport) -> list[str]:
    return missed(report, ALL[report.scenario].check)


@pytest.mark.parametrize("name", sorted(ALL))
def test_a_calm_run_meets_every_goal(name: str) -> None:
    restarted = [NEW_SERVICE, ROUTE_TABLE] if name == "route-change" else ["catalog"]
    assert missed_by(report(name, restarted=restarted)) == []


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize(
    ("lost", "half", "words"), [(1, 0, "1 acknowledged writes lost"), (0, 2, "2 courses half-applied")]
)
def test_a_lost_or_half_applied_write_misses_every_goal(name: str, lost: int, half: int, words: str) -> None:
    restarted = [NEW_SERVICE] if name == "route-change" else ["catalog"]
    assert words in missed_by(report(name, lost_writes=lost, half_applied=half, restarted=restarted))


@pytest.mark.parametrize("name", ["config-change", "image-update", "route-change"])
def test_one_failed_request_misses_an_update_goal(name: str) -> None:
    restarted = [NEW_SERVICE] if name == "route-change" else ["catalog"]
    found = missed_by(report(name, [("GET", "status 502", "bad gateway")], restarted=restarted))
    assert found == ["1 of 101 requests failed (1 status 502)"]


@pytest.mark.parametrize("name", ["config-change", "image-update"])
def test_an_update_that_replaced_nothing_tested_nothing(name: str) -> None:
    assert missed_by(report(name, restarted=[])) == ["its deploy replaced nothing, so nothing was tested"]


def test_a_route_change_must_deploy_the_new_service_and_restart_nothing_else() -> None:
    assert missed_by(report("route-change", restarted=[NEW_SERVICE, ROUTE_TABLE])) == []
    assert missed_by(report("route-change", restarted=[ROUTE_TABLE])) == [f"{NEW_SERVICE} was not deployed"]
    found = missed_by(report("route-change", restarted=[NEW_SERVICE, "postgres", "catalog"]))
    assert found == ["restarted besides the new service: catalog, postgres"]


def test_kill_task_allows_a_failed_write_never_a_failed_read() -> None:
    assert missed_by(report("kill-task", [("POST", "connection error", "closed")], restarted=[])) == []
    assert missed_by(report("kill-task", [("GET", "connection error", "closed")], restarted=[])) == ["1 reads failed"]


def test_postgres_restart_allows_503_with_json_only() -> None:
    both_503 = [("GET", "status 503", JSON_503), ("POST", "status 503", JSON_503)]
    assert missed_by(report("postgres-restart", both_503)) == []
    assert missed_by(report("postgres-restart", [("GET", "status 503", "<html>")])) == ["a 503 without a JSON body"]
    found = missed_by(report("postgres-restart", [("GET", "timeout", "ReadTimeout"), ("GET", "status 503", JSON_503)]))
    assert found == ["failures other than 503: 1 timeout"]


def test_node_loss_allows_one_percent() -> None:
    assert missed_by(report("node-loss", [("GET", "timeout", "")], ok=99, restarted=[])) == []  # 1 of 100
    found = missed_by(report("node-loss", [("GET", "timeout", ""), ("GET", "timeout", "")], ok=98, restarted=[]))
    assert found == ["2 of 100 requests failed, more than 1% (2 timeout)"]


def test_the_gateway_update_has_no_goal_beyond_the_writes() -> None:
    failures = [("GET", "connection error", "refused")] * 20
    assert missed_by(report("gateway-update", failures, restarted=["gateway"])) == []
