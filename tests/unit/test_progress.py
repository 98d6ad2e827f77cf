"""lmsops.core.progress: what a long operation prints when it starts, when it fails (and after how
long), and the verbose-only output of the tools it runs."""

from __future__ import annotations

import io
import sys

import pytest

from lmsops.core import progress
from lmsops.core.progress import Reporter, megabytes, seconds
from tests.unit.adapter_fakes import fake_clock


def test_a_step_says_what_it_starts_and_nothing_more_when_it_succeeds() -> None:
    out = io.StringIO()
    report = Reporter(out)
    with report.step("building catalog"):
        report.say("    catalog: built")
    assert out.getvalue() == "==> building catalog ...\n    catalog: built\n"


def test_a_failing_step_says_how_long_it_ran_and_lets_the_error_through(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = fake_clock(monkeypatch, progress)
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt), Reporter(out).step("pushing"):  # BaseException too: Ctrl-C
        clock.now += 12.34
        raise KeyboardInterrupt
    assert out.getvalue() == "==> pushing ...\n<== pushing: FAILED after 12.3 s\n"


def test_tool_output_is_shown_only_when_verbose() -> None:
    quiet, verbose = io.StringIO(), io.StringIO()
    Reporter(quiet).detail("Step 1/5 : FROM debian")
    Reporter(verbose, verbose=True).detail("Step 1/5 : FROM debian")
    assert (quiet.getvalue(), verbose.getvalue()) == ("", "    | Step 1/5 : FROM debian\n")


def test_the_default_stream_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    report = Reporter()
    assert report.stream is sys.stdout
    report.say("hello")
    assert capsys.readouterr().out == "hello\n"


def test_durations_and_sizes_are_one_decimal(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = fake_clock(monkeypatch, progress)
    started = clock.monotonic()
    clock.now += 0.06
    assert seconds(started) == "0.1 s"
    assert (megabytes(123_456_789), megabytes(0)) == ("123.5 MB", "0.0 MB")
