"""`nox -s resilience` on staging (a throwaway copy on this engine): the failure counts that are goals.

One run of the scenarios that have a goal on one engine, under steady load through the gateway
(reads and writes, four clients of 5 requests/s: every request costs the machine ~11 ms of CPU through
the gateway, a service and PostgreSQL, so the 4 x 15 this test used took ~0.65 of the 2 cores from
the other test files while each scenario ran; at 20 requests/s every scenario still sends hundreds
of requests, a few each second to every task a rolling update replaces. `nox -s resilience` keeps
its heavier default, 4 x 20: docs/reliability.md). Recovery times are figures of the report, never asserted; failed
requests, lost and half-applied writes are counts, and are. The gateway image update (host-mode
publishing: a gap by construction, docs/reliability.md) and the loss of a node (tests/integration/
test_cluster.py) are not part of this run.
"""

from __future__ import annotations

import pytest

from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.resilience.load import LoadShape
from lmsops.resilience.report import ScenarioReport
from lmsops.resilience.run import resilience
from lmsops.resilience.scenarios import NEW_SERVICE, ROUTE_TABLE

SCENARIOS = ["config-change", "image-update", "route-change", "kill-task", "postgres-restart"]


@pytest.fixture(scope="module")
def reports(repo: Repo, docker: Docker, swarm: None) -> dict[str, ScenarioReport]:
    found = resilience(repo, docker, "staging", SCENARIOS, Reporter(), LoadShape(clients=4, per_client_rate=5))
    return {report.scenario: report for report in found}


def test_every_scenario_ran_under_load(reports: dict[str, ScenarioReport]) -> None:
    assert sorted(reports) == sorted(SCENARIOS)
    for report in reports.values():
        assert report.requests >= 120, f"{report.scenario}: only {report.requests} requests"
        assert report.missed == [], f"{report.scenario}: {report.missed}"  # what `nox -s resilience` exits 1 for


@pytest.mark.parametrize("scenario", ["config-change", "image-update"])
def test_a_rolling_update_fails_no_request(reports: dict[str, ScenarioReport], scenario: str) -> None:
    report = reports[scenario]
    assert report.restarted, f"{scenario} replaced nothing: {report.note}"
    assert report.failed_total == 0, report.sample_failures


def test_a_new_service_restarts_neither_postgres_nor_the_others(reports: dict[str, ScenarioReport]) -> None:
    report = reports["route-change"]
    assert NEW_SERVICE in report.restarted
    # Only the new service and the table the gateway polls; the gateway reloads without a restart.
    assert set(report.restarted) <= {NEW_SERVICE, ROUTE_TABLE}, report.restarted
    assert report.failed_total == 0, report.sample_failures


def test_killing_a_task_of_each_stateless_service_fails_no_read(reports: dict[str, ScenarioReport]) -> None:
    report = reports["kill-task"]
    assert report.failed_reads == 0, report.sample_failures


def test_a_postgres_restart_answers_503_with_json_and_loses_no_write(reports: dict[str, ScenarioReport]) -> None:
    report = reports["postgres-restart"]
    # No 500, no hang (a timeout), no connection error: a clear 503 while the database is away.
    assert set(report.failed) <= {"status 503"}, report.sample_failures
    assert all('{"detail":' in sample for sample in report.sample_failures), report.sample_failures
    assert report.lost_writes == 0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_acknowledged_write_is_lost_and_none_half_applied(reports: dict[str, ScenarioReport], scenario: str) -> None:
    assert (reports[scenario].lost_writes, reports[scenario].half_applied) == (0, 0)
