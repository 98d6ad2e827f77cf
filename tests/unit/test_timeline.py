"""tests/timeline.py: the per-file spans of a parallel run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Literal

import pytest

from tests.timeline import Timeline

When = Literal["setup", "call", "teardown"]


def report(nodeid: str, worker: str, when: When, start: float, stop: float) -> pytest.TestReport:
    made = pytest.TestReport(nodeid, ("f", 1, "t"), {}, "passed", None, when, start=start, stop=stop)
    made.node = SimpleNamespace(gateway=SimpleNamespace(id=worker))  # type: ignore[attr-defined]
    return made


def test_each_file_spans_its_first_setup_to_its_last_teardown_on_its_worker() -> None:
    timeline = Timeline()
    spans: list[tuple[str, str, When, float, float]] = [
        ("t/test_a.py::one", "gw0", "setup", 100.0, 130.0),
        ("t/test_a.py::one", "gw0", "call", 130.0, 131.0),
        ("t/test_b.py::two", "gw1", "setup", 101.0, 102.0),
        ("t/test_b.py::two", "gw1", "call", 102.0, 150.0),
        ("t/test_a.py::three", "gw0", "call", 131.0, 140.0),
        ("t/test_a.py::three", "gw0", "teardown", 140.0, 160.0),
        ("t/test_c.py::four", "gw0", "call", 160.0, 170.0),
    ]
    for span in spans:
        timeline.add(report(*span))
    assert timeline.lines() == [
        "WORKER     FROM    TOOK  FILE",
        "gw0          0s     60s  t/test_a.py (2 tests)",
        "gw0         60s     10s  t/test_c.py (1 test)",
        "gw1          1s     49s  t/test_b.py (1 test)",
        "gw0: 2 files, busy 70 s, done at 70 s",
        "gw1: 1 file, busy 49 s, done at 50 s",
    ]


def test_a_run_without_reports_prints_nothing() -> None:
    assert Timeline().lines() == []
