"""`nox -s bench`: speed and size goals, measured as ratios against a baseline run side by side.

- image sizes as a ratio of the OS root (the baseline every image starts from);
- a no-op build (every image up to date) against its baseline: asking the engine about each image
  once (`docker image inspect`), which any build must do at the least.
Timings are medians of several alternating runs, so machine noise hits both sides alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from io import StringIO

from lmsops.build import build
from lmsops.docker import Docker
from lmsops.paths import Repo
from lmsops.plan import plan_images
from lmsops.progress import Reporter, megabytes
from lmsops.versions import load_versions

ROUNDS = 5


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bench(repo: Repo, docker: Docker, report: Reporter) -> None:
    docker.require()
    versions = load_versions(repo)
    build(repo, docker, Reporter(StringIO()), mode="offline")  # everything up to date from here on
    images = plan_images(repo, versions)
    root = docker.image_size(versions.os.reference)
    report.say(f"sizes, as a ratio of the OS root {versions.os.reference} ({megabytes(root)}):")
    for image in images:
        size = docker.image_size(image.reference)
        report.say(f"    {image.name:<14} {megabytes(size):>10}  x{size / root:.2f}")
    quiet = Reporter(StringIO())
    no_op: list[float] = []
    baseline: list[float] = []
    for _ in range(ROUNDS):  # alternate, so both sides see the same machine
        no_op.append(_timed(lambda: build(repo, docker, quiet, mode="offline")))
        baseline.append(_timed(lambda: [docker.image_inspect(i.reference) for i in images]))
    ours, base = statistics.median(no_op), statistics.median(baseline)
    report.say(
        f"no-op build of {len(images)} images: {ours * 1000:.0f} ms; baseline (inspect each once): "
        f"{base * 1000:.0f} ms; ratio x{ours / base:.2f} (median of {ROUNDS} alternating rounds)"
    )
