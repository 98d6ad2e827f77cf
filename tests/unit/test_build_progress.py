"""Which Dockerfile step of an image runs, said without --verbose (lmsops.images.build.StepProgress):
both builders' step lines, at most one line per image every STEP_GAP seconds."""

from __future__ import annotations

import io

import pytest

from lmsops.core.progress import Reporter
from lmsops.images import build
from lmsops.images.build import StepProgress
from tests.unit.adapter_fakes import FakeClock, fake_clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return fake_clock(monkeypatch, build)


def feed(progress: StepProgress, clock: FakeClock, timed: list[tuple[float, str]]) -> None:
    for second, line in timed:
        clock.now = 1000.0 + second
        progress.line(line)


def test_the_classic_builders_steps_are_said_when_they_run_long_enough_to_matter(clock: FakeClock) -> None:
    out = io.StringIO()
    progress = StepProgress("catalog", Reporter(out))
    feed(progress, clock, [
        (0.1, "Step 1/12 : ARG PYTHON_IMAGE"),  # quick steps go by unsaid
        (0.2, "Step 2/12 : FROM lmsops/python:3.11"),
        (0.5, "Step 7/12 : RUN lms-install-locked   /srv/requirements.lock"),
        (4.0, "Collecting fastapi"),  # still step 7, 3 s after the building line: said now
        (5.0, "Collecting uvicorn"),  # said once
        (6.0, "Step 8/12 : COPY app /srv/app"),  # 2 s after the last line: not yet
        (9.5, "Step 9/12 : RUN " + "x" * 100),  # long instructions are cut
    ])  # fmt: skip
    assert out.getvalue().splitlines() == [
        "    catalog: step 7/12 RUN lms-install-locked /srv/requirements.lock",
        "    catalog: step 9/12 RUN " + "x" * 65 + "...",
    ]


def test_buildkits_plain_progress_is_read_too(clock: FakeClock) -> None:
    out = io.StringIO()
    progress = StepProgress("gateway", Reporter(out))
    feed(progress, clock, [(4.0, "#9 [builder 3/5] RUN apt-get install -y nginx"), (5.0, "#9 0.512 Reading lists")])
    assert out.getvalue().splitlines() == ["    gateway: step 3/5 RUN apt-get install -y nginx"]


def test_with_verbose_every_line_is_shown_instead_and_no_step_line_is_added(clock: FakeClock) -> None:
    out = io.StringIO()
    progress = StepProgress("catalog", Reporter(out, verbose=True))
    feed(progress, clock, [(10.0, "Step 7/12 : RUN x")])
    assert out.getvalue() == ""
