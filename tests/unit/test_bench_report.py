"""`nox -s bench`'s report (lmsops.bench.report): the rows it makes from what was measured (sizes,
medians of alternating rounds, ratios), the table and the JSON file. The measuring functions and the
clock are fakes; the statistics and the reporting are the real ones."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator

import pytest

from lmsops.bench import build as bench_build
from lmsops.bench import report as bench_report
from lmsops.bench.baseline import Baseline
from lmsops.bench.gateway import DevBench, GatewayResult, Load
from lmsops.bench.report import Row, bench, build_rows, dev_rows, no_op_build_row, size_rows, slim_rows, table
from lmsops.bench.staging import StagingBench
from lmsops.core.errors import DeployError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.plan import plan_images
from lmsops.images.versions import load_versions
from tests.unit.cli_fakes import Clock, EngineDocker, Recorder, add_services


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The bench's stopwatch (lmsops.bench.build.timed) reads this clock."""
    fake = Clock()
    monkeypatch.setattr(bench_build, "time", fake)
    return fake


@pytest.fixture
def docker() -> EngineDocker:
    return EngineDocker()


def sized(docker: EngineDocker, reference: str, size: int) -> None:
    docker.add_image(reference)
    docker.images[reference]["Size"] = size


def references(repo: Repo) -> dict[str, str]:
    return {image.name: image.reference for image in plan_images(repo, load_versions(repo))}


def quiet() -> Reporter:
    return Reporter(io.StringIO())


def said(report: Reporter) -> str:
    assert isinstance(report.stream, io.StringIO)
    return report.stream.getvalue()


# -- rows ------------------------------------------------------------------------------------


def test_a_row_without_a_baseline_shows_dashes_and_has_no_ratio() -> None:
    row = Row("a new service: copier to conformance green", 61.6, 0.0, "s", "-")
    assert math.isnan(row.ratio)
    assert (row.shown_ratio, row.shown_baseline) == ("-", "-")
    line = table([row]).splitlines()[1]
    assert line.split() == ["a", "new", "service:", "copier", "to", "conformance", "green", "61.6", "s", "-", "-", "-"]


def test_the_table_has_thousands_separators_and_aligned_columns() -> None:
    rows = [
        Row("no-op build vs compose", 532.6, 1063.2, "ms", "compose"),
        Row("size of python", 106.6, 74.2, "MB", "os"),
    ]
    header, compose, size = table(rows).splitlines()
    assert compose.index("x0.50") == size.index("x1.44") == header.index("RATIO")
    assert compose.index("1,063.2 ms") == size.index("74.2 MB") == header.index("BASELINE")


def test_sizes_are_in_megabytes_against_the_os_root(repo: Repo, docker: EngineDocker) -> None:
    refs = references(repo)
    sized(docker, "debian:bookworm-slim", 74_200_000)
    sized(docker, refs["python"], 106_600_000)
    sized(docker, refs["python-build"], 163_000_000)  # postgres is not built: 0 MB
    assert size_rows(repo, docker) == [
        Row("size of python", 106.6, 74.2, "MB", "the OS root"),
        Row("size of python-build", 163.0, 74.2, "MB", "the OS root"),
        Row("size of postgres", 0.0, 74.2, "MB", "the OS root"),
    ]
    assert size_rows(repo, docker)[0].ratio == pytest.approx(1.4367, abs=1e-4)


def test_slim_rows_compare_each_python_service_with_python_slim(repo: Repo, docker: EngineDocker) -> None:
    add_services(repo.root)
    refs = references(repo)
    sized(docker, "python:3.11-slim", 130_000_000)
    sized(docker, refs["catalog"], 141_400_000)
    report = quiet()
    rows = slim_rows(repo, docker, report)
    alone = "python:3.11-slim alone (the least it adds up to)"
    by_name = {row.name: row for row in rows}
    assert by_name["size of catalog vs python:3.11-slim"] == Row(
        "size of catalog vs python:3.11-slim", 141.4, 130.0, "MB", alone
    )
    assert by_name["size of enrollment vs python:3.11-slim"].ours == 0.0  # not built
    assert "size of gateway vs python:3.11-slim" not in by_name  # the gateway builds on the OS root
    assert said(report) == ""


def test_without_python_slim_on_the_machine_its_rows_are_left_out_and_the_bench_says_so(
    repo: Repo, docker: EngineDocker
) -> None:
    add_services(repo.root)
    report = quiet()
    assert slim_rows(repo, docker, report) == []
    assert "python:3.11-slim: not on this machine, its rows are left out" in said(report)
    assert "docker pull python:3.11-slim" in said(report)


def test_the_no_op_build_alternates_with_its_floor_and_takes_medians(
    repo: Repo, docker: EngineDocker, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build, then one inspect per image, five times over; the row is the median of each side."""
    order: list[str] = []
    build_seconds = iter([0.5, 0.3, 0.9, 0.4, 0.6])

    def fake_build(*args: object, **kwargs: object) -> list[object]:
        assert kwargs == {"mode": "offline"}  # a no-op build never pulls
        order.append("build")
        clock.advance(next(build_seconds))
        return []

    def inspect(ref: str) -> dict[str, object] | None:
        order.append(f"inspect {ref.split(':')[0]}")
        clock.advance(0.01)
        return None

    monkeypatch.setattr(bench_report, "build", fake_build)
    monkeypatch.setattr(docker, "image_inspect", inspect)
    row = no_op_build_row(repo, docker)
    round_ = ["build", "inspect lmsops/python", "inspect lmsops/python-build", "inspect lmsops/postgres"]
    assert order == round_ * bench_report.ROUNDS
    assert (row.name, row.unit, row.baseline_is) == ("no-op build of 3 images", "ms", "inspecting each image once")
    assert (row.ours, row.baseline) == pytest.approx((500.0, 30.0))


def test_build_rows_are_in_milliseconds_and_seconds(monkeypatch: pytest.MonkeyPatch, repo: Repo) -> None:
    monkeypatch.setattr(bench_report, "no_op_against_compose", Recorder((0.5, 1.0625)))  # seconds
    monkeypatch.setattr(bench_report, "one_service_rebuild", Recorder((4.6, 2.7)))
    report = quiet()
    rows = build_rows(repo, EngineDocker(), report)
    assert rows == [
        Row("no-op build vs compose", 500.0, 1062.5, "ms", "docker compose build of the same Dockerfiles, warm cache"),
        Row("rebuild after a change to catalog", 4.6, 2.7, "s", "docker build of that image"),
    ]
    assert "a change to catalog: lmsops build against plain docker build" in said(report)


def dev_bench() -> DevBench:
    gateway = [
        GatewayResult(
            "/healthz",
            direct=Load(2773.2, 5.1, 29.9),
            gateway=Load(2699.3, 5.2, 28.4),
            direct_alone=Load(1877.0, 0.49, 3.4),
            gateway_alone=Load(1941.0, 0.43, 4.3),
        ),
        GatewayResult(
            "/courses",
            direct=Load(686.9, 21.2, 102.2),
            gateway=Load(619.4, 23.0, 119.2),
            direct_alone=Load(360.8, 2.47, 14.8),
            gateway_alone=Load(354.9, 2.58, 11.1),
        ),
    ]
    return DevBench(gateway, 3.2, 1.1, courses=Load(687.8, 20.0, 90.0), courses_baseline=Load(121.2, 80.0, 300.0))


@pytest.fixture
def baseline(monkeypatch: pytest.MonkeyPatch, docker: EngineDocker) -> Baseline:
    """The baseline catalog's build added these tags to the engine (its older base included)."""
    built = Baseline("lmsops/catalog:0.1.0-old", ["lmsops/catalog:0.1.0-old", "lmsops/python:3.11-1-old"])
    for tag in [*built.added, "lmsops/catalog:0.1.0-today"]:
        docker.add_image(tag)
    monkeypatch.setattr(bench_report, "build_baseline_catalog", Recorder(built))
    return built


def test_dev_rows_compare_deploys_catalogs_and_the_gateway_with_direct(
    repo: Repo, docker: EngineDocker, baseline: Baseline, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench_dev = Recorder(dev_bench())
    monkeypatch.setattr(bench_report, "bench_dev", bench_dev)
    rows = dev_rows(repo, docker, quiet())
    assert bench_dev.call.args[3:] == (("/healthz", "/courses"), "lmsops/catalog:0.1.0-old")
    assert [(row.name, row.ours, row.baseline, row.unit) for row in rows] == [
        ("deploy dev, nothing changed", 3.2, 1.1, "s"),
        ("a page of courses (catalog, direct)", 687.8, 121.2, "req/s"),
        ("gateway /healthz throughput", 2699.3, 2773.2, "req/s"),
        ("gateway /healthz p50, one client", 0.43, 0.49, "ms"),
        ("gateway /healthz p99, one client", 4.3, 3.4, "ms"),
        ("gateway /healthz p50 under load", 5.2, 5.1, "ms"),
        ("gateway /courses throughput", 619.4, 686.9, "req/s"),
        ("gateway /courses p50, one client", 2.58, 2.47, "ms"),
        ("gateway /courses p99, one client", 11.1, 14.8, "ms"),
        ("gateway /courses p50 under load", 23.0, 21.2, "ms"),
    ]
    assert {row.baseline_is for row in rows[2:]} == {"direct, 16 connections", "direct, one client"}
    assert rows[1].baseline_is == "the catalog of ee0e43c608, beside it"
    assert docker.removed == baseline.added and "lmsops/catalog:0.1.0-today" in docker.images


def test_the_baseline_images_are_removed_when_the_dev_bench_fails(
    repo: Repo, docker: EngineDocker, baseline: Baseline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_report, "bench_dev", Recorder(error=DeployError("dev did not become healthy")))
    with pytest.raises(DeployError, match="dev did not become healthy"):
        dev_rows(repo, docker, quiet())
    assert docker.removed == baseline.added


# -- the whole bench -------------------------------------------------------------------------


@pytest.fixture
def measured(
    repo: Repo, docker: EngineDocker, clock: Clock, baseline: Baseline, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Recorder]]:
    """Every measuring step of the bench faked, each with its figures; the rows and report are real."""
    refs = references(repo)
    sized(docker, "debian:bookworm-slim", 74_200_000)
    sized(docker, refs["python"], 106_600_000)
    sized(docker, refs["python-build"], 163_000_000)
    sized(docker, refs["postgres"], 370_500_000)
    fakes = {
        "require_wrk": Recorder("/usr/bin/wrk"),
        "require_baseline_commit": Recorder(),
        "build": Recorder([]),
        "no_op_against_compose": Recorder((0.5, 1.0)),
        "one_service_rebuild": Recorder((4.6, 2.3)),
        "bench_dev": Recorder(dev_bench()),
        "bench_staging": Recorder(StagingBench(40.0, 32.0)),
        "bench_new_service": Recorder(61.6),
        "free_port": Recorder(18999),
    }
    for name, fake in fakes.items():
        monkeypatch.setattr(bench_report, name, fake)
    yield fakes


def test_the_bench_prints_the_table_and_writes_every_row_as_json(
    repo: Repo, docker: EngineDocker, measured: dict[str, Recorder]
) -> None:
    out = io.StringIO()
    path = bench(repo, docker, Reporter(out))
    assert path.parent == repo.work / "reports" and path.name.startswith("bench-") and path.suffix == ".json"
    data = json.loads(path.read_text())
    assert path.name == f"bench-{data['at']}.json"
    assert data["machine"].endswith("cores, engine 20.10.24")
    rows = {row["name"]: row for row in data["rows"]}
    assert list(rows) == [
        "size of python", "size of python-build", "size of postgres", "no-op build of 3 images",
        "no-op build vs compose", "rebuild after a change to catalog", "deploy dev, nothing changed",
        "a page of courses (catalog, direct)", "gateway /healthz throughput", "gateway /healthz p50, one client",
        "gateway /healthz p99, one client", "gateway /healthz p50 under load", "gateway /courses throughput",
        "gateway /courses p50, one client", "gateway /courses p99, one client", "gateway /courses p50 under load",
        "staging after a change to catalog", "a new service: copier to conformance green",
    ]  # fmt: skip
    postgres = {"name": "size of postgres", "ours": 370.5, "baseline": 74.2, "unit": "MB", "baseline_is": "the OS root"}
    assert rows["size of postgres"] == postgres | {"ratio": pytest.approx(4.993, abs=1e-3)}
    assert (rows["no-op build vs compose"]["ours"], rows["no-op build vs compose"]["ratio"]) == (500.0, 0.5)
    assert rows["staging after a change to catalog"]["ratio"] == pytest.approx(1.25)
    assert rows["a new service: copier to conformance green"]["baseline"] == 0.0
    assert measured["bench_new_service"].call.args[3] == 18999  # its own free gateway port
    text = out.getvalue()
    assert f"bench: written to .lmsops/reports/{path.name}" in text
    assert "==> bench: image sizes against the OS root debian:bookworm-slim (74.2 MB)" in text
    table_lines = [line for line in text.splitlines() if line.startswith(("GOAL", "size of", "staging after"))]
    assert table_lines[0].split() == ["GOAL", "OURS", "BASELINE", "RATIO", "BASELINE", "IS"]
    assert "x1.25" in table_lines[-1]


def test_every_image_is_built_offline_before_anything_is_measured(
    repo: Repo, docker: EngineDocker, measured: dict[str, Recorder]
) -> None:
    bench(repo, docker, Reporter(io.StringIO()))
    first = measured["build"].calls[0]
    assert first.args[:2] == (repo, docker) and first.kwargs == {"mode": "offline"}


@pytest.mark.parametrize("missing", ["require_wrk", "require_baseline_commit"])
def test_a_missing_prerequisite_stops_the_bench_before_any_build(
    missing: str, repo: Repo, docker: EngineDocker, measured: dict[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_report, missing, Recorder(error=PrerequisiteError(f"{missing} failed")))
    with pytest.raises(PrerequisiteError, match=missing):
        bench(repo, docker, Reporter(io.StringIO()))
    assert measured["build"].calls == [] and measured["bench_dev"].calls == []
    assert not (repo.work / "reports").exists()


def test_slim_rows_join_the_table_when_python_slim_is_on_the_machine(
    repo: Repo, docker: EngineDocker, measured: dict[str, Recorder]
) -> None:
    add_services(repo.root)
    sized(docker, "python:3.11-slim", 130_000_000)
    data = json.loads(bench(repo, docker, Reporter(io.StringIO())).read_text())
    names = [row["name"] for row in data["rows"]]
    assert names.index("size of catalog vs python:3.11-slim") < names.index("no-op build of 6 images")
    assert "size of gateway vs python:3.11-slim" not in names


def reject(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def test_the_report_is_strict_json(repo: Repo, docker: EngineDocker, measured: dict[str, Recorder]) -> None:
    path = bench(repo, docker, Reporter(io.StringIO()))
    json.loads(path.read_text(), parse_constant=reject)
