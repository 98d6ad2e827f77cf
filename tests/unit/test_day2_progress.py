"""Progress lines while an environment converges (lmsops.targets.progress) and the process runners the
day-2 commands use (proc.watch ticks while a program is silent, proc.merged, proc.attached)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from lmsops.core import proc
from lmsops.core.progress import Reporter
from lmsops.targets.progress import ComposeProgress, Heartbeat
from tests.unit.adapter_fakes import FakeClock


def test_a_heartbeat_shows_a_change_at_most_every_2_s_and_otherwise_a_line_every_10_s() -> None:
    clock = FakeClock(start=0.0)
    out = io.StringIO()
    heartbeat = Heartbeat(clock.monotonic)
    said = []
    for second, state in enumerate(["a"] * 2 + ["b"] * 3 + ["c"] + ["c"] * 20):
        clock.now = float(second)
        heartbeat.say(Reporter(out), state)
        said = out.getvalue().splitlines()
    assert said == [
        "    waiting 2 s: b",  # nothing in the first 2 s; a change at once after
        "    waiting 5 s: c",  # b changed at 5 s: shown, 3 s after the last line
        "    waiting 15 s: c",  # no change: a line every 10 s
        "    waiting 25 s: c",
    ]


def test_a_heartbeat_counts_from_the_last_line_anything_printed_and_says_nothing_of_an_empty_state() -> None:
    clock = FakeClock(start=0.0)
    out = io.StringIO()
    heartbeat = Heartbeat(clock.monotonic)
    clock.now = 9.0
    heartbeat.noted()
    clock.now = 10.0
    heartbeat.say(Reporter(out), "a")
    heartbeat.say(Reporter(out), "")
    clock.now = 11.0
    heartbeat.say(Reporter(out), "a")
    assert out.getvalue().splitlines() == ["    waiting 11 s: a"]


def test_compose_progress_reads_composes_own_lines_into_each_containers_state() -> None:
    clock = FakeClock(start=0.0)
    out = io.StringIO()
    progress = ComposeProgress("lms-dev", Reporter(out), clock.monotonic)
    for line in [" Network lms-dev_backend  Created", " Container lms-dev-postgres-1  Started",
                 " Container lms-dev-catalog-1  Waiting", " Container lms-dev-postgres-1  Healthy",
                 " Container lms-dev-gateway-2  Recreated", "container lms-dev-x-1 exited (1)"]:  # fmt: skip
        progress.line(line)
    clock.now = 3.0
    progress.tick()
    progress.tick()
    assert out.getvalue().splitlines() == [
        "    waiting 3 s: catalog waiting for healthy, gateway-2 recreated, postgres healthy"
    ]


def test_compose_progress_shows_composes_lines_themselves_with_verbose() -> None:
    out = io.StringIO()
    ComposeProgress("p", Reporter(out, verbose=True), FakeClock().monotonic).line(" Container p-a-1  Started")
    assert out.getvalue() == "    |  Container p-a-1  Started\n"


# -- the process runners ----------------------------------------------------------------------------
def test_watch_ticks_while_the_program_is_silent_and_hands_over_each_line(tmp_path: Path) -> None:
    """The program waits, silent, for a file only a tick creates: it ends only if ticks come meanwhile."""
    flag = tmp_path / "ticked"
    waits = (
        "import os, time\nprint('waiting', flush=True)\n"
        f"while not os.path.exists({str(flag)!r}):\n    time.sleep(0.01)\nprint('done')\nraise SystemExit(5)"
    )
    lines: list[str] = []
    result = proc.watch([sys.executable, "-c", waits], lines.append, flag.touch, every=0.05)
    assert lines == ["waiting", "done"]
    assert (result.returncode, result.stdout) == (5, "waiting\ndone")


def test_merged_runs_programs_side_by_side_and_keys_each_line() -> None:
    lines: list[tuple[str, str]] = []
    codes = proc.merged(
        {"one": [sys.executable, "-c", "print('a'); print('b')"], "two": [sys.executable, "-c", "print('c'); exit(2)"]},
        lambda key, line: lines.append((key, line)),
    )
    assert codes == {"one": 0, "two": 2}
    assert sorted(lines) == [("one", "a"), ("one", "b"), ("two", "c")]
    assert [line for line in lines if line[0] == "one"] == [("one", "a"), ("one", "b")], "in order per program"


def test_attached_returns_the_programs_exit_code() -> None:
    assert proc.attached([sys.executable, "-c", "raise SystemExit(4)"]) == 4
