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

SERVER = textwrap.dedent(
    """
    import time
    from fastapi import APIRouter
    from lms_runtime import ServiceSettings, create_app, serve

    router = APIRouter()

    @router.get("/slow")
    def slow() -> dict[str, str]:
        time.sleep(1.5)
        return {"finished": "yes"}

    serve("demo", ServiceSettings, lambda settings: create_app(service="demo", routers=[router]))
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_in_flight_request_completes_after_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    env = {**os.environ, "LMS_ENV": "test", "LMS_PORT": str(port)}
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
        time.sleep(0.5)  # the request is in flight
        server.send_signal(signal.SIGTERM)
        client.join(timeout=10)
        assert answers == [b'{"finished":"yes"}']
        # It then stops by itself; uvicorn re-raises the signal after its graceful shutdown.
        assert server.wait(timeout=10) in {0, -signal.SIGTERM}
        output = server.stdout.read().decode() if server.stdout else ""
        assert '"message": "stopped"' in output
    finally:
        server.kill()
        server.wait()
