"""lmsops.resilience.report: what a scenario cost, as a table row and as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lmsops.core.paths import Repo
from lmsops.resilience.load import Outcome
from lmsops.resilience.report import ScenarioReport, summarise, table, write_json

HEADER = ["scenario", "requests", "failed (by kind)", "p50 ms", "p99 ms", "max ms", "recovered in"]
HEADER += ["lost/half writes", "client retries", "goal"]


def cells(line: str) -> list[str]:
    """A table line's cells (columns are two spaces apart at least, a cell has single spaces only)."""
    return re.split(r" {2,}", line)


def outcome(method: str, kind: str = "ok", ms: float = 10.0, body: str = "", path: str = "/catalog/courses") -> Outcome:
    return Outcome(0.0, method, path, kind, ms / 1000, body)


def report(outcomes: list[Outcome], name: str = "kill-task", **changes: Any) -> ScenarioReport:
    options: dict[str, Any] = {"recovery_s": 4.26, "lost_writes": 0, "half_applied": 0, "restarted": []}
    return summarise(name, "a summary", "0 failed", outcomes, **(options | changes))


def test_summarise_counts_failures_by_kind_and_by_method() -> None:
    outcomes = [
        *[outcome("GET") for _ in range(5)],
        outcome("GET", "status 503", body='{"detail":"database unavailable"}'),
        outcome("GET", "timeout", body="ReadTimeout: "),
        outcome("POST", "status 503", body='{"detail":"database unavailable"}'),
        outcome("POST", "connection error", body="RemoteProtocolError: closed"),
        outcome("PUT", "status 503"),
        outcome("DELETE", "timeout"),
    ]
    summary = report(outcomes, lost_writes=2, half_applied=1, restarted=["catalog"], note="n")

    assert summary.requests == 11
    assert summary.failed == {"connection error": 1, "status 503": 3, "timeout": 2}
    assert list(summary.failed) == sorted(summary.failed)
    assert summary.failed_total == 6
    assert (summary.failed_reads, summary.failed_writes) == (4, 2)  # PUT and DELETE are idempotent: retryable
    assert (summary.lost_writes, summary.half_applied, summary.restarted, summary.note) == (2, 1, ["catalog"], "n")
    assert summary.recovery_s == 4.3
    assert len(summary.sample_failures) == 5
    assert 'GET /catalog/courses: status 503 {"detail":"database unavailable"}' in summary.sample_failures
    assert summary.sample_failures == sorted(summary.sample_failures)


def test_samples_are_distinct() -> None:
    summary = report([outcome("GET", "timeout", body="ReadTimeout: ") for _ in range(30)])
    assert summary.sample_failures == ["GET /catalog/courses: timeout ReadTimeout:"]


def test_latency_percentiles_in_milliseconds_rounded() -> None:
    # 150 answers of 1.04 .. 150.04 ms: the median is between the 75th and 76th, the 99th percentile is
    # the 149th (the nearest rank of 148.5), the maximum the last
    summary = report([outcome("GET", ms=n + 0.04) for n in range(150, 0, -1)])

    assert summary.p50_ms == 75.5
    assert summary.p99_ms == 149.0
    assert summary.max_ms == 150.0


def test_rounding_to_a_tenth() -> None:
    summary = report([outcome("GET", ms=12.34), outcome("GET", ms=12.36), outcome("GET", ms=99.96)])

    assert (summary.p50_ms, summary.p99_ms, summary.max_ms) == (12.4, 100.0, 100.0)


def test_no_requests_and_no_recovery() -> None:
    summary = report([], recovery_s=None)

    assert (summary.requests, summary.failed, summary.failed_total) == (0, {}, 0)
    assert (summary.p50_ms, summary.p99_ms, summary.max_ms) == (0.0, 0.0, 0.0)
    assert summary.recovery_s is None


def test_table_has_a_header_and_a_row_per_scenario() -> None:
    calm = report([outcome("GET", ms=12.0), outcome("POST", ms=14.0)], "config-change", recovery_s=8.04)
    rough = report(
        [outcome("GET", "status 503", ms=3.0), outcome("GET", "timeout", ms=20.5), outcome("POST", "timeout")],
        "postgres-restart",
        recovery_s=None,
        lost_writes=1,
        half_applied=2,
    )
    rough.missed = ["1 acknowledged writes lost"]
    lines = table([calm, rough]).splitlines()

    assert len(lines) == 3
    assert cells(lines[0]) == HEADER
    assert cells(lines[1]) == ["config-change", "2", "0", "13", "14", "14", "8.0 s", "0/0", "0", "met"]
    assert cells(lines[2]) == [
        "postgres-restart",
        "3",
        "1 status 503, 2 timeout",
        "10",
        "20.5",
        "20.5",
        "-",
        "1/2",
        "0",
        "MISSED",
    ]
    assert lines[0].index("requests") == lines[1].index("2 ") == lines[2].index("3 ")  # aligned columns


def test_table_of_nothing_is_its_header() -> None:
    assert [cells(line) for line in table([]).splitlines()] == [HEADER]


def test_write_json_under_the_work_folder(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    reports = [
        report([outcome("GET")], "config-change"),
        report([outcome("GET", "timeout"), outcome("POST", "status 503")], "kill-task", restarted=["catalog"]),
    ]
    path = write_json(repo, "staging", "abc1234", reports)

    assert path.parent == repo.work / "reports"
    assert path.name.startswith("resilience-staging-") and path.suffix == ".json"
    document = json.loads(path.read_text())
    assert (document["environment"], document["commit"]) == ("staging", "abc1234")
    assert document["at"] in path.name
    assert [s["scenario"] for s in document["scenarios"]] == ["config-change", "kill-task"]
    assert [s["failed_total"] for s in document["scenarios"]] == [0, 2]
    kill = document["scenarios"][1]
    assert kill["failed"] == {"status 503": 1, "timeout": 1}
    assert (kill["failed_reads"], kill["failed_writes"], kill["restarted"]) == (1, 1, ["catalog"])
    assert kill["recovery_s"] == 4.3
