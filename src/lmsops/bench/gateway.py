"""Benchmarks on a throwaway dev deployment: a deploy with nothing changed against plain `docker compose
up --wait` of the same model; and the gateway's cost: the same endpoint of the same catalog container,
through the gateway and directly, both through a loopback port, in alternating rounds (wrk, Debian).

A throwaway dev deployment (`lms-dev-bench`) is made for it and removed after; the catalog is
published on a second loopback port by a Compose overlay for the direct side. Requests go to
127.0.0.1 only, bounded by wrk's duration.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import urllib.request
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from lmsops.bench.build import free_port, timed
from lmsops.bench.throwaway import throwaway_environments
from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.core.yamlfile import dump_yaml
from lmsops.deploy.apply import deploy
from lmsops.environments.model import resolve
from lmsops.images.context import Context
from lmsops.targets.status import down

ROUNDS = 3
# wrk's threads and connections. Under load, 16 connections keep every core busy: the throughput, and
# latencies that are mostly time in a queue (16 / throughput). Alone, one request at a time: what a
# hop adds to a request when nothing waits.
UNDER_LOAD = ("-t2", "-c16")
ALONE = ("-t1", "-c1")
COURSES = 20  # a full default page of /courses, 3 modules each
DURATION = "5s"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """What wrk measured: requests per second and latency percentiles in milliseconds."""

    rps: float
    p50: float
    p99: float


@dataclass(frozen=True)
class GatewayResult:
    """One path directly and through the gateway: under load (throughput; its latencies are mostly
    queueing on this machine's cores) and one request at a time (the latency the hop itself adds)."""

    path: str
    direct: Load
    gateway: Load
    direct_alone: Load
    gateway_alone: Load

    @property
    def ratio(self) -> float:
        return self.gateway.rps / self.direct.rps

    @property
    def added_p50_ms(self) -> float:
        return self.gateway_alone.p50 - self.direct_alone.p50


def publishing_overlay(model_path: Path, direct_port: int, baseline: str, baseline_port: int) -> dict[str, object]:
    """Today's catalog on a loopback port, and the baseline catalog beside it: the same service
    (environment, secrets, network, database) with the baseline's image, on another loopback port."""

    def published(port: int) -> list[dict[str, object]]:
        return [{"target": 8001, "published": str(port), "host_ip": "127.0.0.1"}]

    return {
        "services": {
            "catalog": {"ports": published(direct_port)},
            "catalog-baseline": {
                "extends": {"file": model_path.name, "service": "catalog"},
                "image": baseline,
                "ports": published(baseline_port),
            },
        }
    }


def parse_wrk(output: str) -> Load:
    """Requests/sec and the 50% / 99% lines of `wrk --latency`."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, flags=re.MULTILINE))
    if rps is None or set(percentiles) != {"50", "99"}:
        raise PrerequisiteError(f"could not read wrk's output:\n{output}")
    return Load(float(rps[1]), _ms(percentiles["50"]), _ms(percentiles["99"]))


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _seed(url: str, count: int) -> None:
    for number in range(count):
        body = {"code": f"BENCH{number:03d}", "title": f"Course {number}",
                "modules": [{"title": f"Module {m}"} for m in range(3)]}  # fmt: skip
        request = urllib.request.Request(  # noqa: S310 - loopback only
            url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status != 201:
                raise PrerequisiteError(f"seeding the bench catalog failed: {response.status}")


def _wrk(wrk: str, url: str, clients: tuple[str, str] = UNDER_LOAD) -> Load:
    result = proc.run([wrk, "--latency", *clients, f"-d{DURATION}", url], timeout=60)
    return parse_wrk(result.stdout)


def _median(loads: list[Load]) -> Load:
    return Load(*(statistics.median(getattr(load, key) for load in loads) for key in ("rps", "p50", "p99")))


@dataclass(frozen=True)
class DevBench:
    gateway: list[GatewayResult]
    deploy_seconds: float  # `lmsops deploy dev` with nothing changed (median)
    compose_up_seconds: float  # plain `docker compose up -d --wait` of the same model (median)
    courses: Load  # a page of courses from today's catalog, directly (median)
    courses_baseline: Load  # the same page from the baseline catalog beside it (median)


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise PrerequisiteError("the gateway benchmark drives load with wrk: apt-get install wrk")
    return wrk


def bench_dev(repo: Repo, docker: Docker, report: Reporter, paths: tuple[str, ...], baseline: str) -> DevBench:
    """baseline: an image of the catalog as it was (lmsops.bench.baseline), run beside today's."""
    wrk = require_wrk()
    quiet = Reporter(StringIO())
    gateway_port, direct_port, baseline_port = free_port(), free_port(), free_port()
    repo = throwaway_environments(repo, "-bench", {"dev": {"LMS_GATEWAY_PORT": str(gateway_port)}})
    report.say("==> bench: deploying dev as lms-dev-bench, catalog also published directly on loopback")
    try:

        def deploy_dev() -> None:  # one `nox -s deploy -- dev` as a user types it: its own context
            deploy(Context(repo, docker, quiet, "offline"), "dev")

        deploy_dev()
        model = resolve(repo, docker, "dev")
        model_path = model.path(repo)
        no_op_deploy, compose_up = [], []
        up_all = ("up", "--detach", "--wait", "--no-build", "--pull", "never")
        for _ in range(ROUNDS):  # nothing changed: what deploy adds to Compose's own no-op
            no_op_deploy.append(timed(deploy_dev))
            compose_up.append(timed(lambda: docker.compose(model.project, [model_path], None, *up_all)))
        overlay = Path(model_path.parent / "bench-publish.yaml")
        overlay.write_text(dump_yaml(publishing_overlay(model_path, direct_port, baseline, baseline_port)))
        up = ("up", "--detach", "--wait", "--no-deps", "--pull", "never", "catalog", "catalog-baseline")
        docker.compose(model.project, [model_path, overlay], None, *up)
        _seed(f"http://127.0.0.1:{gateway_port}/catalog/courses", COURSES)
        ours, theirs = [], []
        for _ in range(ROUNDS):  # the same page from both catalogs, same database, alternating
            theirs.append(_wrk(wrk, f"http://127.0.0.1:{baseline_port}/courses"))
            ours.append(_wrk(wrk, f"http://127.0.0.1:{direct_port}/courses"))
        results = []
        for path in paths:
            sides = {"direct": f"http://127.0.0.1:{direct_port}{path}",
                     "gateway": f"http://127.0.0.1:{gateway_port}/catalog{path}"}  # fmt: skip
            runs: dict[tuple[str, tuple[str, str]], list[Load]] = {}
            for _ in range(ROUNDS):  # alternate, so both sides see the same machine
                for clients in (UNDER_LOAD, ALONE):
                    for side, url in sides.items():
                        runs.setdefault((side, clients), []).append(_wrk(wrk, url, clients))
            medians = {key: _median(loads) for key, loads in runs.items()}
            results.append(GatewayResult(path, medians["direct", UNDER_LOAD], medians["gateway", UNDER_LOAD],
                                         medians["direct", ALONE], medians["gateway", ALONE]))  # fmt: skip
        deploys = statistics.median(no_op_deploy), statistics.median(compose_up)
        return DevBench(results, *deploys, _median(ours), _median(theirs))
    finally:
        down(repo, docker, "dev", True, quiet)
