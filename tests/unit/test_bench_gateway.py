"""The dev benchmarks (lmsops.bench.gateway): a no-op deploy against `compose up`, a page of courses
from today's catalog against the baseline catalog, and each path through the gateway against the same
catalog directly, in alternating rounds, reduced to medians. The deploy, Compose, wrk and the clock are
fakes; the throwaway environment files, the alternation and the statistics are real."""

from __future__ import annotations

import io
import json
import stat
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from lmsops.bench import build as bench_build
from lmsops.bench import gateway
from lmsops.bench.gateway import COURSES, ROUNDS, DevBench, Load, _median, _seed, bench_dev, parse_wrk, require_wrk
from lmsops.core import proc
from lmsops.core.errors import DeployError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from tests.unit.cli_fakes import Clock, EngineDocker, Recorder, environment_file
from tests.unit.conftest import write

GATEWAY_PORT, DIRECT_PORT, BASELINE_PORT = 18601, 18602, 18603
BASELINE = "lmsops/catalog:0.1.0-ee0e43c608"


def wrk_output(load: Load, p99_unit: str = "ms") -> str:
    """What `wrk --latency` prints, for the given figures (p99 shown in ms or s)."""
    p99 = f"{load.p99 / 1000:.2f}s" if p99_unit == "s" else f"{load.p99:.2f}ms"
    return (
        "Running 5s test @ http://127.0.0.1\n  2 threads and 16 connections\n  Latency Distribution\n"
        f"     50%    {load.p50:.2f}ms\n     75%    9.99ms\n     90%   10.00ms\n     99%    {p99}\n"
        f"  17305 requests in 5.00s, 2.61MB read\nRequests/sec:   {load.rps:.2f}\nTransfer/sec:    534.01KB\n"
    )


# -- wrk and its figures ---------------------------------------------------------------------


def test_latencies_in_seconds_are_converted_to_milliseconds() -> None:
    assert parse_wrk(wrk_output(Load(120.0, 80.0, 1200.0), p99_unit="s")) == Load(120.0, 80.0, 1200.0)


def test_wrk_output_without_its_99_percent_line_is_refused() -> None:
    text = wrk_output(Load(120.0, 80.0, 90.0)).replace("99%", "98%")
    with pytest.raises(PrerequisiteError, match="could not read wrk's output"):
        parse_wrk(text)


def test_the_median_is_taken_per_figure_not_per_run() -> None:
    loads = [Load(100.0, 9.0, 50.0), Load(300.0, 5.0, 70.0), Load(200.0, 7.0, 10.0)]
    assert _median(loads) == Load(200.0, 7.0, 50.0)


def test_no_wrk_on_the_path_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteError, match="drives load with wrk: apt-get install wrk"):
        require_wrk()
    wrk = write(tmp_path / "wrk", "#!/bin/sh\n")
    wrk.chmod(wrk.stat().st_mode | stat.S_IXUSR)
    assert require_wrk() == str(wrk)


# -- seeding the catalog -----------------------------------------------------------------------


class Response:
    def __init__(self, status: int) -> None:
        self.status = status

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_seeding_posts_a_full_page_of_courses_with_three_modules_each(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[urllib.request.Request] = []

    def urlopen(request: urllib.request.Request, timeout: float) -> Response:
        assert timeout == 10
        sent.append(request)
        return Response(201)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    _seed("http://127.0.0.1:18601/catalog/courses", COURSES)
    assert len(sent) == COURSES == 20
    assert {(r.full_url, r.get_method(), r.get_header("Content-type")) for r in sent} == {
        ("http://127.0.0.1:18601/catalog/courses", "POST", "application/json")
    }
    bodies = [json.loads(r.data) for r in sent]  # type: ignore[arg-type]
    assert [body["code"] for body in bodies] == [f"BENCH{n:03d}" for n in range(20)]
    assert bodies[7] == {"code": "BENCH007", "title": "Course 7",
                         "modules": [{"title": "Module 0"}, {"title": "Module 1"}, {"title": "Module 2"}]}  # fmt: skip


def test_a_course_the_catalog_refuses_stops_the_seeding(monkeypatch: pytest.MonkeyPatch) -> None:
    statuses = iter([201, 409])
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: Response(next(statuses)))
    with pytest.raises(PrerequisiteError, match="seeding the bench catalog failed: 409"):
        _seed("http://127.0.0.1:18601/catalog/courses", COURSES)


# -- the dev bench -----------------------------------------------------------------------------


class Bench:
    """The fakes of one dev bench run and what they saw."""

    def __init__(self, repo: Repo, clock: Clock, model_path: Path) -> None:
        self.repo, self.clock, self.model_path = repo, clock, model_path
        self.deploys: list[tuple[Repo, str, str]] = []
        self.deploy_seconds = iter([60.0, 3.0, 3.4, 3.2])  # the first deploy makes dev: not measured
        self.up_seconds = iter([1.0, 1.2, 1.1, 9.0])  # the last starts the two catalogs: not measured
        self.urls: list[str] = []
        self.wrk_calls: list[tuple[list[str], Any]] = []
        self.answers: dict[str, list[Load]] = {}
        self.docker = self.Docker(self)
        self.seed, self.down = Recorder(), Recorder()

    class Docker(EngineDocker):
        def __init__(self, bench: Bench) -> None:
            super().__init__()
            self.bench = bench

        def compose(self, project: str, files: Any, env_file: Path | None, *args: str, check: bool = True) -> Any:
            result = super().compose(project, files, env_file, *args, check=check)
            self.bench.clock.advance(next(self.bench.up_seconds))
            return result

    def deploy(self, ctx: Any, env: str) -> None:
        self.deploys.append((ctx.repo, ctx.mode, env))
        self.clock.advance(next(self.deploy_seconds))

    def resolve(self, repo: Repo, docker: EngineDocker, env: str) -> SimpleNamespace:
        assert (repo.env_root, docker, env) == (self.deploys[0][0].env_root, self.docker, "dev")
        return SimpleNamespace(project="lms-dev-bench", path=lambda repo: self.model_path)

    def run(self, argv: list[str], **kwargs: Any) -> proc.Result:
        """wrk: the next answer of its URL, or of "URL alone" when it runs one connection."""
        url = argv[-1] + (" alone" if "-c1" in argv else "")
        self.urls.append(url)
        self.wrk_calls.append((argv, kwargs))
        return proc.Result(argv, 0, wrk_output(self.answers[url].pop(0)), "")


def loads(*rps: float) -> list[Load]:
    """One load per round; the latencies follow the throughput (p50 = 10000 / rps, p99 = 4 x p50)."""
    return [Load(value, 10000 / value, 40000 / value) for value in rps]


@pytest.fixture
def dev(project: Repo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bench]:
    clock = Clock()
    monkeypatch.setattr(bench_build, "time", clock)
    bench = Bench(project, clock, project.work / "model" / "model.yaml")
    bench.model_path.parent.mkdir(parents=True)
    ports = iter([GATEWAY_PORT, DIRECT_PORT, BASELINE_PORT])
    direct, through = f"http://127.0.0.1:{DIRECT_PORT}", f"http://127.0.0.1:{GATEWAY_PORT}/catalog"
    bench.answers = {
        f"http://127.0.0.1:{BASELINE_PORT}/courses": loads(120.0, 125.0, 110.0),
        f"{direct}/courses": loads(690.0, 650.0, 700.0) + loads(680.0, 600.0, 690.0),  # the page, then the path
        f"{direct}/healthz": loads(2800.0, 2700.0, 2750.0),
        f"{through}/healthz": loads(2600.0, 2700.0, 2650.0),
        f"{through}/courses": loads(610.0, 620.0, 500.0),
        f"{direct}/healthz alone": loads(1900.0, 1800.0, 2000.0),
        f"{through}/healthz alone": loads(1700.0, 1600.0, 1750.0),
        f"{direct}/courses alone": loads(360.0, 350.0, 340.0),
        f"{through}/courses alone": loads(330.0, 345.0, 320.0),
    }
    monkeypatch.setattr(gateway, "require_wrk", lambda: "/usr/bin/wrk")
    monkeypatch.setattr(gateway, "free_port", lambda: next(ports))
    monkeypatch.setattr(gateway, "deploy", bench.deploy)
    monkeypatch.setattr(gateway, "resolve", bench.resolve)
    monkeypatch.setattr(gateway, "_seed", bench.seed)
    monkeypatch.setattr(gateway, "down", bench.down)
    monkeypatch.setattr(proc, "run", bench.run)
    yield bench


def run_dev(bench: Bench) -> DevBench:
    return bench_dev(bench.repo, bench.docker, Reporter(io.StringIO()), ("/healthz", "/courses"), BASELINE)


def test_dev_is_deployed_as_a_throwaway_copy_on_its_own_gateway_port(dev: Bench) -> None:
    run_dev(dev)
    copy, mode, env = dev.deploys[0]
    assert (env, mode) == ("dev", "offline")
    assert copy.env_root is not None and copy.env_root != dev.repo.environments
    data = environment_file(copy, "dev")
    assert data["target"]["name"] == "lms-dev-bench"
    assert data["variables"]["LMS_GATEWAY_PORT"] == GATEWAY_PORT
    assert dev.down.call.args[0] == copy and dev.down.call.args[2:4] == ("dev", True)  # removed with its volumes


def test_the_no_op_deploy_alternates_with_compose_up_and_takes_medians(dev: Bench) -> None:
    result = run_dev(dev)
    assert [env for _, _, env in dev.deploys] == ["dev"] * (1 + ROUNDS)
    up_all = ("up", "--detach", "--wait", "--no-build", "--pull", "never")
    assert dev.docker.compose_calls[:ROUNDS] == [("lms-dev-bench", [dev.model_path], up_all)] * ROUNDS
    assert (result.deploy_seconds, result.compose_up_seconds) == pytest.approx((3.2, 1.1))


def test_both_catalogs_run_beside_each_other_on_their_own_loopback_ports(dev: Bench) -> None:
    run_dev(dev)
    overlay = dev.model_path.parent / "bench-publish.yaml"
    assert dev.docker.compose_calls[-1] == (
        "lms-dev-bench", [dev.model_path, overlay],
        ("up", "--detach", "--wait", "--no-deps", "--pull", "never", "catalog", "catalog-baseline"),
    )  # fmt: skip
    services = yaml.safe_load(overlay.read_text())["services"]
    assert services["catalog"]["ports"] == [{"target": 8001, "published": str(DIRECT_PORT), "host_ip": "127.0.0.1"}]
    assert services["catalog-baseline"]["image"] == BASELINE
    assert services["catalog-baseline"]["ports"][0]["published"] == str(BASELINE_PORT)
    assert dev.seed.call.args == (f"http://127.0.0.1:{GATEWAY_PORT}/catalog/courses", COURSES)  # through the gateway


def test_wrk_alternates_baseline_and_ours_then_direct_and_through_the_gateway(dev: Bench) -> None:
    run_dev(dev)
    base, direct, through = (f"http://127.0.0.1:{BASELINE_PORT}", f"http://127.0.0.1:{DIRECT_PORT}",
                             f"http://127.0.0.1:{GATEWAY_PORT}/catalog")  # fmt: skip

    def round_of(path: str) -> list[str]:  # under load, then one request at a time; each side in turn
        return [f"{direct}{path}", f"{through}{path}", f"{direct}{path} alone", f"{through}{path} alone"]

    assert dev.urls == (
        [f"{base}/courses", f"{direct}/courses"] * ROUNDS
        + round_of("/healthz") * ROUNDS
        + round_of("/courses") * ROUNDS
    )
    argv, kwargs = dev.wrk_calls[0]
    assert argv == ["/usr/bin/wrk", "--latency", "-t2", "-c16", "-d5s", f"{base}/courses"]
    assert kwargs == {"timeout": 60}
    alone = [argv for argv, _ in dev.wrk_calls if "-c1" in argv]
    assert len(alone) == 2 * 2 * ROUNDS and all(argv[2:4] == ["-t1", "-c1"] for argv in alone)


def test_the_results_are_the_medians_of_each_side(dev: Bench) -> None:
    result = run_dev(dev)
    baseline = result.courses_baseline  # wrk prints latencies to the hundredth of a millisecond
    assert (baseline.rps, baseline.p50, baseline.p99) == pytest.approx((120.0, 10000 / 120, 40000 / 120), abs=0.01)
    assert result.courses.rps == pytest.approx(690.0)
    healthz, courses = result.gateway
    assert (healthz.path, healthz.direct.rps, healthz.gateway.rps) == ("/healthz", 2750.0, 2650.0)
    assert (courses.path, courses.direct.rps, courses.gateway.rps) == ("/courses", 680.0, 610.0)
    assert courses.gateway.p50 == pytest.approx(10000 / 610, abs=0.01)  # the median of the latencies, not of the runs
    assert healthz.ratio == pytest.approx(2650 / 2750)
    assert (healthz.direct_alone.rps, healthz.gateway_alone.rps) == (1900.0, 1700.0)
    assert (courses.direct_alone.rps, courses.gateway_alone.rps) == (350.0, 330.0)
    # The latency the gateway adds: one request at a time, not the queue of 16 connections.
    assert healthz.added_p50_ms == pytest.approx(10000 / 1700 - 10000 / 1900, abs=0.01)


def test_a_failed_deploy_still_removes_the_throwaway_dev(dev: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway, "deploy", Recorder(error=DeployError("catalog did not become healthy")))
    with pytest.raises(DeployError):
        run_dev(dev)
    assert dev.down.call.args[2:4] == ("dev", True)
    assert dev.urls == []
