"""Several worker processes behind one socket: real processes on loopback, real signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lms_runtime.workers import default_workers

SERVER = textwrap.dedent(
    """
    import os
    from fastapi import APIRouter
    from lms_runtime import ServiceSettings, create_app, serve

    router = APIRouter()

    @router.get("/exit")
    def exit_now() -> None:
        os._exit(7)  # a worker that dies on its own (a crash, an OOM kill)

    serve("demo", ServiceSettings, lambda settings: create_app(service="demo", routers=[router]))
    """
)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("50000 100000\n", 1), ("150000 100000\n", 2), ("max 100000\n", None), ("garbage", None)],
)
def test_one_worker_per_cpu_the_container_may_use(tmp_path: Path, cpu_max: str, expected: int | None) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)  # cgroup v2
    cores = min(len(os.sched_getaffinity(0)), 4)
    assert default_workers(tmp_path) == (min(expected, cores) if expected else cores)
    assert default_workers(tmp_path / "absent") == cores


@pytest.mark.parametrize(("quota", "expected"), [("50000", 1), ("150000", 2), ("-1", None)])
def test_the_cpu_limit_is_read_on_cgroup_v1_too(tmp_path: Path, quota: str, expected: int | None) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    cores = min(len(os.sched_getaffinity(0)), 4)
    assert default_workers(tmp_path) == (min(expected, cores) if expected else cores)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(tmp_path: Path, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    env = {**os.environ, "LMS_ENV": "test", "LMS_PORT": str(port), "LMS_WORKERS": str(workers)}
    server = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return server, port
        except OSError:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_the_workers_stop_together_on_sigterm(tmp_path: Path) -> None:
    server, _port = start(tmp_path, workers=3)
    try:
        workers = children(server.pid)
        assert len(workers) == 3
        assert server.stdout is not None
        seen: list[str] = []
        while sum('"message": "ready to serve"' in line for line in seen) < 3:  # every worker started
            line = server.stdout.readline().decode()
            assert line, "".join(seen)
            seen.append(line)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        output = "".join(seen) + server.stdout.read().decode()
        assert output.count('"message": "stopped"') == 3, output
    finally:
        server.kill()
        server.wait()


def test_a_worker_that_dies_stops_the_service_with_its_code(tmp_path: Path) -> None:
    server, port = start(tmp_path, workers=2)
    try:
        workers = children(server.pid)
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/exit", timeout=5)
        assert server.wait(timeout=20) == 7  # Docker's restart policy sees the failure
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        output = server.stdout.read().decode() if server.stdout else ""
        assert "exited on its own (code 7)" in output
    finally:
        server.kill()
        server.wait()
