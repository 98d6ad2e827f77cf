"""`nox -s bench`: speed and size goals, each measured as a ratio against a baseline run side by side.

- image sizes as a ratio of the OS root (the baseline every image starts from), and of
  python:3.11-slim when that image is on this machine (lmsops.bench.build);
- a no-op build (every image up to date) against plain `docker compose build` of the same
  Dockerfiles with a warm cache, and against its floor: asking the engine about each image once;
- a change to one service: lmsops's rebuild against plain `docker build` of that image;
- a deploy of dev with nothing changed against plain `docker compose up -d --wait` of the same model;
- the gateway: the same catalog endpoint through the gateway and directly, both on loopback ports
  (lmsops.bench.gateway);
- a page of courses from today's catalog against the catalog as issue 13 found it, built from its
  own commit and run beside it on the same database (lmsops.bench.baseline);
- staging after a change to one service against Swarm's own `docker service update` of it
  (lmsops.bench.staging);
- a new service from `copier copy` to a green conformance run of dev, in seconds
  (lmsops.bench.new_service).
Timings are medians of several alternating runs, so machine noise hits both sides alike. The table
is printed and written as JSON to .lmsops/reports/bench-<time>.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

from lmsops.bench.baseline import CATALOG_BASELINE_COMMIT, build_baseline_catalog, require_baseline_commit
from lmsops.bench.build import (
    CHANGED_SERVICE,
    SLIM,
    free_port,
    no_op_against_compose,
    one_service_rebuild,
    slim_sizes,
    timed,
)
from lmsops.bench.gateway import bench_dev, require_wrk
from lmsops.bench.new_service import bench_new_service
from lmsops.bench.staging import bench_staging
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, megabytes
from lmsops.core.table import table_lines
from lmsops.images.build import build
from lmsops.images.plan import plan_images
from lmsops.images.versions import load_versions

ROUNDS = 5
GATEWAY_PATHS = ("/healthz", "/courses")


@dataclass(frozen=True)
class Row:
    """One measured goal: ours against its baseline (same unit), and ours / baseline."""

    name: str
    ours: float
    baseline: float
    unit: str
    baseline_is: str

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")

    @property
    def shown_ratio(self) -> str:
        return f"x{self.ratio:.2f}" if self.baseline else "-"

    @property
    def shown_baseline(self) -> str:
        return f"{self.baseline:,.1f} {self.unit}" if self.baseline else "-"


def size_rows(repo: Repo, docker: Docker) -> list[Row]:
    versions = load_versions(repo)
    root = docker.image_size(versions.os.reference)
    return [
        Row(f"size of {image.name}", docker.image_size(image.reference) / 1e6, root / 1e6, "MB", "the OS root")
        for image in plan_images(repo, versions)
    ]


def no_op_build_row(repo: Repo, docker: Docker) -> Row:
    images = plan_images(repo, load_versions(repo))
    quiet = Reporter(StringIO())
    no_op: list[float] = []
    floor: list[float] = []
    for _ in range(ROUNDS):  # alternate, so both sides see the same machine
        no_op.append(timed(lambda: build(repo, docker, quiet, mode="offline")))
        floor.append(timed(lambda: [docker.image_inspect(i.reference) for i in images]))
    return Row(
        f"no-op build of {len(images)} images", statistics.median(no_op) * 1000, statistics.median(floor) * 1000,
        "ms", "inspecting each image once",
    )  # fmt: skip


def slim_rows(repo: Repo, docker: Docker, report: Reporter) -> list[Row]:
    sizes = slim_sizes(repo, docker)
    if sizes is None:
        report.say(f"    {SLIM}: not on this machine, its rows are left out (lmsops pulls from no registry but its "
                   f"own; `docker pull {SLIM}` where a registry is reachable, then bench again)")  # fmt: skip
        return []
    return [Row(f"size of {name} vs {SLIM}", ours / 1e6, slim / 1e6, "MB", f"{SLIM} alone (the least it adds up to)")
            for name, (ours, slim) in sizes.items()]  # fmt: skip


def build_rows(repo: Repo, docker: Docker, report: Reporter) -> list[Row]:
    report.say(f"==> bench: a no-op build against a warm `docker compose build` ({ROUNDS} alternating rounds)")
    ours, compose = no_op_against_compose(repo, docker)
    report.say(f"==> bench: a change to {CHANGED_SERVICE}: lmsops build against plain docker build")
    rebuild, plain = one_service_rebuild(repo, docker)
    return [
        Row("no-op build vs compose", ours * 1000, compose * 1000, "ms",
            "docker compose build of the same Dockerfiles, warm cache"),
        Row(f"rebuild after a change to {CHANGED_SERVICE}", rebuild, plain, "s", "docker build of that image"),
    ]  # fmt: skip


def dev_rows(repo: Repo, docker: Docker, report: Reporter) -> list[Row]:
    baseline = build_baseline_catalog(repo, docker, report)
    try:
        measured = bench_dev(repo, docker, report, GATEWAY_PATHS, baseline.catalog)
    finally:
        for tag in baseline.added:  # only what the baseline's build added
            docker.remove_image(tag)
    rows = [
        Row("deploy dev, nothing changed", measured.deploy_seconds, measured.compose_up_seconds, "s",
            "docker compose up -d --wait of the same model"),
        Row("a page of courses (catalog, direct)", measured.courses.rps, measured.courses_baseline.rps, "req/s",
            f"the catalog of {CATALOG_BASELINE_COMMIT[:10]}, beside it"),
    ]  # fmt: skip
    for result in measured.gateway:
        direct, through = result.direct, result.gateway
        alone, through_alone = result.direct_alone, result.gateway_alone
        rows += [
            Row(f"gateway {result.path} throughput", through.rps, direct.rps, "req/s", "direct, 16 connections"),
            Row(f"gateway {result.path} p50, one client", through_alone.p50, alone.p50, "ms", "direct, one client"),
            Row(f"gateway {result.path} p99, one client", through_alone.p99, alone.p99, "ms", "direct, one client"),
            Row(f"gateway {result.path} p50 under load", through.p50, direct.p50, "ms", "direct, 16 connections"),
        ]
    return rows


def table(rows: list[Row]) -> str:
    lines = [("GOAL", "OURS", "BASELINE", "RATIO", "BASELINE IS")]
    for row in rows:
        lines.append((row.name, f"{row.ours:,.1f} {row.unit}", row.shown_baseline, row.shown_ratio,
                      row.baseline_is))  # fmt: skip
    return "\n".join(table_lines(lines))


def bench(repo: Repo, docker: Docker, report: Reporter) -> Path:
    docker.require()
    require_wrk()  # every prerequisite before the first build or deploy
    require_baseline_commit(repo)
    build(repo, docker, Reporter(StringIO()), mode="offline")  # everything up to date from here on
    root = load_versions(repo).os.reference
    report.say(f"==> bench: image sizes against the OS root {root} ({megabytes(docker.image_size(root))})")
    rows = size_rows(repo, docker)
    rows += slim_rows(repo, docker, report)
    report.say(f"==> bench: a no-op build against inspecting each image ({ROUNDS} alternating rounds)")
    rows.append(no_op_build_row(repo, docker))
    rows += build_rows(repo, docker, report)
    rows += dev_rows(repo, docker, report)
    measured = bench_staging(repo, docker, report)
    rows.append(Row(f"staging after a change to {CHANGED_SERVICE}", measured.deploy_seconds,
                    measured.service_update_seconds, "s", "docker service update --image of that service"))  # fmt: skip
    new_service = bench_new_service(repo, docker, report, free_port())
    rows.append(Row("a new service: copier to conformance green", new_service, 0.0, "s", "-"))
    report.say(table(rows))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, engine {docker.server_version().get('Version', '?')}"
    report.say(f"bench: medians of alternating rounds on {machine}")
    at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = repo.work / "reports" / f"bench-{at}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    # No baseline: no ratio, written as null (JSON has no NaN; strict parsers refuse the bare token).
    data = {"at": at, "machine": machine,
            "rows": [asdict(row) | {"ratio": row.ratio if row.baseline else None} for row in rows]}  # fmt: skip
    out.write_text(json.dumps(data, indent=2) + "\n")
    report.say(f"bench: written to {repo.display(out)}")
    return out
