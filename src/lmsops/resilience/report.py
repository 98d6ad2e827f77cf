"""What one scenario cost the LMS's users, as a table row and as JSON (.lmsops/reports/)."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lmsops.core.paths import Repo
from lmsops.core.table import table_lines
from lmsops.resilience.load import IDEMPOTENT, Outcome


@dataclass
class ScenarioReport:
    scenario: str
    summary: str
    goal: str
    requests: int
    failed: dict[str, int]  # kind of failure -> count
    failed_reads: int
    failed_writes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    recovery_s: float | None  # from the fault or update until every service is back and healthy
    lost_writes: int  # acknowledged, then not found afterwards
    half_applied: int  # a course found without all its modules
    restarted: list[str]  # services the scenario's deploy replaced (empty for faults)
    note: str = ""
    sample_failures: list[str] = field(default_factory=list)
    client_retries: int = 0  # idempotent requests the client sent again after a keep-alive close
    missed: list[str] = field(default_factory=list)  # what of its goal it missed (lmsops.resilience.goals)

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())


def summarise(
    scenario: str,
    summary: str,
    goal: str,
    outcomes: list[Outcome],
    *,
    recovery_s: float | None,
    lost_writes: int,
    half_applied: int,
    restarted: list[str],
    note: str = "",
    client_retries: int = 0,
) -> ScenarioReport:
    latencies = sorted(o.latency * 1000 for o in outcomes) or [0.0]
    failed = [o for o in outcomes if o.kind != "ok"]
    samples = sorted({f"{o.method} {o.path}: {o.kind} {o.body}".strip() for o in failed})[:5]
    return ScenarioReport(
        scenario=scenario,
        summary=summary,
        goal=goal,
        requests=len(outcomes),
        failed=dict(sorted(Counter(o.kind for o in failed).items())),
        failed_reads=sum(1 for o in failed if o.method in IDEMPOTENT),
        failed_writes=sum(1 for o in failed if o.method not in IDEMPOTENT),
        p50_ms=round(statistics.median(latencies), 1),
        p99_ms=round(latencies[max(0, math.ceil(len(latencies) * 0.99) - 1)], 1),  # nearest rank
        max_ms=round(latencies[-1], 1),
        recovery_s=None if recovery_s is None else round(recovery_s, 1),
        lost_writes=lost_writes,
        half_applied=half_applied,
        restarted=restarted,
        note=note,
        sample_failures=samples,
        client_retries=client_retries,
    )


def table(reports: list[ScenarioReport]) -> str:
    header = [
        "scenario",
        "requests",
        "failed (by kind)",
        "p50 ms",
        "p99 ms",
        "max ms",
        "recovered in",
        "lost/half writes",
        "client retries",
        "goal",
    ]
    rows = []
    for r in reports:
        kinds = ", ".join(f"{count} {kind}" for kind, count in r.failed.items()) or "0"
        recovered = "-" if r.recovery_s is None else f"{r.recovery_s:.1f} s"
        writes = f"{r.lost_writes}/{r.half_applied}"
        latency = [f"{r.p50_ms:g}", f"{r.p99_ms:g}", f"{r.max_ms:g}"]
        goal = "MISSED" if r.missed else "met"
        rows.append([r.scenario, str(r.requests), kinds, *latency, recovered, writes, str(r.client_retries), goal])
    return "\n".join(table_lines([header, *rows]))


def write_json(repo: Repo, env_name: str, commit: str, reports: list[ScenarioReport]) -> Path:
    folder = repo.work / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"resilience-{env_name}-{stamp}.json"
    document = {
        "environment": env_name,
        "commit": commit,
        "at": stamp,
        "scenarios": [asdict(r) | {"failed_total": r.failed_total} for r in reports],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
