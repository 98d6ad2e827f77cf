"""The checks a scenario's goal is made of: what `nox -s resilience` exits 1 for.

Each scenario of lmsops.resilience.scenarios says its goal in words (docs/reliability.md has the
table) and names its check here: the same goal as counts. Every scenario keeps every acknowledged
write (none lost, none half-applied), whatever else its goal allows; an update whose deploy replaced
nothing tested nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line names the scenarios without loading the load's libraries (httpx)
    from lmsops.resilience.report import ScenarioReport

NODE_LOSS_SHARE = 0.01  # at most 1% of the requests may fail while Swarm moves a lost node's tasks

Check = Callable[["ScenarioReport"], list[str]]


def none_failed(report: ScenarioReport) -> list[str]:
    if not report.failed_total:
        return []
    return [f"{report.failed_total} of {report.requests} requests failed ({_kinds(report)})"]


def rolling_update(report: ScenarioReport) -> list[str]:
    replaced = [] if report.restarted else ["its deploy replaced nothing, so nothing was tested"]
    return replaced + none_failed(report)


def adds_only(service: str, allowed: set[str]) -> Check:
    """No failed request, service deployed, and nothing replaced outside allowed."""

    def check(report: ScenarioReport) -> list[str]:
        missed = none_failed(report)
        if service not in report.restarted:
            missed.append(f"{service} was not deployed")
        others = sorted(set(report.restarted) - allowed)
        if others:
            missed.append(f"restarted besides the new service: {', '.join(others)}")
        return missed

    return check


def no_failed_read(report: ScenarioReport) -> list[str]:
    return [f"{report.failed_reads} reads failed"] if report.failed_reads else []


def json_503_only(report: ScenarioReport) -> list[str]:
    other = {kind: n for kind, n in report.failed.items() if kind != "status 503"}
    missed = [f"failures other than 503: {_kinds(report, other)}"] if other else []
    answers_503 = [sample for sample in report.sample_failures if ": status 503" in sample]
    if any('{"detail":' not in sample for sample in answers_503):
        missed.append("a 503 without a JSON body")
    return missed


def at_most_one_percent_failed(report: ScenarioReport) -> list[str]:
    if report.failed_total <= report.requests * NODE_LOSS_SHARE:
        return []
    return [f"{report.failed_total} of {report.requests} requests failed, more than 1% ({_kinds(report)})"]


def writes_only(_report: ScenarioReport) -> list[str]:
    return []  # no goal beyond the writes every scenario keeps


def missed(report: ScenarioReport, check: Check) -> list[str]:
    """What of its goal (check, and the writes every scenario keeps) a report misses; empty when met."""
    writes = []
    if report.lost_writes:
        writes.append(f"{report.lost_writes} acknowledged writes lost")
    if report.half_applied:
        writes.append(f"{report.half_applied} courses half-applied")
    return writes + check(report)


def _kinds(report: ScenarioReport, kinds: dict[str, int] | None = None) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in (report.failed if kinds is None else kinds).items())
