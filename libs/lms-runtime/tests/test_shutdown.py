"""SIGTERM drains, then lets in-flight requests finish: a real service process on loopback, a real signal."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

# /slow marks that it started, then holds the request until the test releases it: the test sends
# SIGTERM while the request is certainly in flight (no sleep decides that).
SERVER = textwrap.dedent(
    """
    import os, pathlib, time
    from fastapi import APIRouter
    from lms_runtime import ServiceSettings, create_app, serve

    router = APIRouter()
    folder = pathlib.Path(os.environ["TEST_FOLDER"])

    @router.get("/slow")
    def slow() -> dict[str, str]:
        (folder / "started").touch()
        deadline = time.monotonic() + 20
        while not (folder / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"finished": "yes"}

    serve("demo", ServiceSettings, lambda settings: create_app(service="demo", routers=[router]))
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear within {timeout} s"
        time.sleep(0.01)


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET on a new connection (http.client: a 503 is no exception)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, body
    finally:
        connection.close()


def poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.01)


def refused(port: int) -> bool:
    try:
        get(port, "/healthz")
    except ConnectionError:
        return True
    return False


DRAIN_SECONDS = 2.0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_then_in_flight_requests_complete(tmp_path: Path, workers: str) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    env = {
        **os.environ, "LMS_ENV": "test", "LMS_PORT": str(port), "TEST_FOLDER": str(tmp_path),
        "LMS_WORKERS": workers, "LMS_DRAIN_SECONDS": str(DRAIN_SECONDS),
    }  # fmt: skip
    # Its own process group: a failing test kills the workers too, not only the supervisor.
    command = [sys.executable, str(script)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(line.decode() for line in server.stdout or []))
    reader.start()
    try:
        poll(lambda: not refused(port), 20, "the server listening")
        # Every worker started, not only the first that answered: one still importing when SIGTERM
        # comes would never say it drains (seen on a loaded machine).
        started = "Application startup complete."
        poll(lambda: sum(started in line for line in output) == int(workers), 20, "every worker started")
        answers: list[bytes] = []
        client = threading.Thread(
            target=lambda: answers.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/slow", timeout=30).read())
        )
        client.start()
        wait_for_file(tmp_path / "started", 10)  # the request is in flight
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        # The drain: new connections are still accepted; /readyz says 503 draining, /healthz stays
        # 200, and every answer closes its connection.
        poll(lambda: sum("draining for 2.0 s" in line for line in output) == int(workers), 5, "every worker draining")
        for _ in range(5):  # new connections, spread over the workers
            status, headers, body = get(port, "/readyz")
            assert (status, json.loads(body)["status"], headers["connection"]) == (503, "draining", "close")
            status, headers, _ = get(port, "/healthz")
            assert (status, headers["connection"]) == (200, "close")
        # Then the graceful shutdown: no new connections, while the request in flight still runs.
        poll(lambda: refused(port), DRAIN_SECONDS + 5, "the server to stop accepting")
        assert time.monotonic() - signalled >= DRAIN_SECONDS, "it served for the whole drain first"
        (tmp_path / "release").touch()
        client.join(timeout=10)
        assert answers == [b'{"finished":"yes"}']
        # It then stops by itself; uvicorn re-raises the signal after its graceful shutdown.
        assert server.wait(timeout=10) in {0, -signal.SIGTERM}
        reader.join(timeout=10)
        assert sum('"message": "stopped"' in line for line in output) == int(workers)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
