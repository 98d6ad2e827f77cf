"""SIGTERM lets in-flight requests finish: a real uvicorn process on loopback, a real signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
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


@pytest.mark.parametrize("workers", ["1", "2"])
def test_in_flight_request_completes_after_sigterm(tmp_path: Path, workers: str) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    env = {**os.environ, "LMS_ENV": "test", "LMS_PORT": str(port), "TEST_FOLDER": str(tmp_path), "LMS_WORKERS": workers}
    server = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        answers: list[bytes] = []
        client = threading.Thread(
            target=lambda: answers.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/slow", timeout=10).read())
        )
        client.start()
        wait_for_file(tmp_path / "started", 10)  # the request is in flight
        server.send_signal(signal.SIGTERM)
        (tmp_path / "release").touch()
        client.join(timeout=10)
        assert answers == [b'{"finished":"yes"}']
        # It then stops by itself; uvicorn re-raises the signal after its graceful shutdown.
        assert server.wait(timeout=10) in {0, -signal.SIGTERM}
        output = server.stdout.read().decode() if server.stdout else ""
        assert '"message": "stopped"' in output
    finally:
        server.kill()
        server.wait()
