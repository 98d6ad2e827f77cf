"""The benchmark's own arithmetic and parsing (no Docker, no load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsops.bench.baseline import catalog_reference, require_baseline_commit
from lmsops.bench.gateway import GatewayResult, Load, parse_wrk, publishing_overlay
from lmsops.bench.report import Row, table
from lmsops.core.errors import PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.proc import run

# What `wrk --latency -t2 -c16 -d5s URL` prints (wrk 4.1, Debian).
WRK = """Running 5s test @ http://127.0.0.1:18556/healthz
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.62ms    0.89ms  13.51ms   86.72%
    Req/Sec     1.74k   123.45     2.01k    70.00%
  Latency Distribution
     50%    4.41ms
     75%    5.02ms
     90%    5.73ms
     99%  820.00us
  17305 requests in 5.00s, 2.61MB read
Requests/sec:   3460.90
Transfer/sec:    534.01KB
"""


def test_wrk_output_gives_throughput_and_percentiles_in_milliseconds() -> None:
    load = parse_wrk(WRK)
    assert (load.rps, load.p50, load.p99) == pytest.approx((3460.90, 4.41, 0.82))


def test_unreadable_wrk_output_is_an_error_not_a_zero() -> None:
    with pytest.raises(PrerequisiteError, match="could not read wrk's output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_gateway_ratio_is_under_load_and_added_latency_one_request_at_a_time() -> None:
    under_load = Load(3000.0, 4.0, 9.0), Load(2400.0, 4.8, 12.0)
    result = GatewayResult("/healthz", *under_load, Load(1900.0, 0.49, 3.4), Load(1850.0, 0.53, 4.1))
    assert result.ratio == pytest.approx(0.8)
    assert result.added_p50_ms == pytest.approx(0.04)


def test_the_table_shows_each_row_with_its_ratio() -> None:
    text = table([Row("gateway /healthz throughput", 2400.0, 3000.0, "req/s", "direct")])
    header, line = text.splitlines()
    assert header.split() == ["GOAL", "OURS", "BASELINE", "RATIO", "BASELINE", "IS"]
    assert "2,400.0 req/s" in line and "3,000.0 req/s" in line and "x0.80" in line and line.endswith("direct")


def test_the_baseline_catalog_is_read_from_its_own_image_list() -> None:
    listing = (
        "IMAGE     KIND     BASE    REFERENCE                          SIZE\n"
        "python    base     os      lmsops/python:3.11-1-d3db52a41ad1  106.6 MB\n"
        "catalog   service  python  lmsops/catalog:0.1.0-7c5424cff98a  139.0 MB\n"
    )
    assert catalog_reference(listing) == "lmsops/catalog:0.1.0-7c5424cff98a"
    with pytest.raises(PrerequisiteError, match="no catalog image"):
        catalog_reference(listing.replace("catalog", "catalogue"))


def test_the_baseline_catalog_runs_as_the_same_service_with_its_own_image_and_port(tmp_path: Path) -> None:
    overlay = publishing_overlay(tmp_path / "model.yaml", 18591, "lmsops/catalog:old", 18592)
    services = overlay["services"]
    assert isinstance(services, dict)
    assert services["catalog"] == {"ports": [{"target": 8001, "published": "18591", "host_ip": "127.0.0.1"}]}
    assert services["catalog-baseline"] == {
        "extends": {"file": "model.yaml", "service": "catalog"},
        "image": "lmsops/catalog:old",
        "ports": [{"target": 8001, "published": "18592", "host_ip": "127.0.0.1"}],
    }


def test_a_clone_without_the_baseline_commit_is_refused_before_anything_runs(tmp_path: Path) -> None:
    run(["git", "init", "--quiet", str(tmp_path)])
    with pytest.raises(PrerequisiteError, match="does not have it: fetch the full history"):
        require_baseline_commit(Repo(tmp_path))
