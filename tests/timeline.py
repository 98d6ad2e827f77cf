"""Where a parallel run's wall time goes: each test file's span on its pytest-xdist worker.

The controller receives every test's report with the worker it ran on and when (time.time() on the
same machine); at the end it prints, per file, the worker, when it started after the first test,
how long it took from its first setup to its last teardown, and each worker's busy time. The
slowest tests (--durations) say what inside a file is slow; this says whether the workers end
together or one of them runs alone at the end (docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lmsops.core.progress import count


@dataclass
class Span:
    worker: str
    start: float
    stop: float
    tests: int = 0


class Timeline:
    def __init__(self) -> None:
        self.spans: dict[str, Span] = {}

    def add(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::")[0]
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        worker = str(getattr(gateway, "id", "main"))
        span = self.spans.setdefault(path, Span(worker, report.start, report.stop))
        span.start, span.stop = min(span.start, report.start), max(span.stop, report.stop)
        span.tests += report.when == "call"

    def lines(self) -> list[str]:
        if not self.spans:
            return []
        first = min(span.start for span in self.spans.values())
        lines = [f"{'WORKER':<7} {'FROM':>7} {'TOOK':>7}  FILE"]
        for path, span in sorted(self.spans.items(), key=lambda item: (item[1].worker, item[1].start)):
            took, tests = span.stop - span.start, count(span.tests, "test")
            lines.append(f"{span.worker:<7} {span.start - first:>6.0f}s {took:>6.0f}s  {path} ({tests})")
        for worker in sorted({span.worker for span in self.spans.values()}):
            mine = [span for span in self.spans.values() if span.worker == worker]
            busy = sum(span.stop - span.start for span in mine)
            ended = max(span.stop for span in mine) - first
            lines.append(f"{worker}: {count(len(mine), 'file')}, busy {busy:.0f} s, done at {ended:.0f} s")
        return lines
