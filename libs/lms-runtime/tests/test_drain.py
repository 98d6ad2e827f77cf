"""The drain on SIGTERM, in process: the app while draining, and a real uvicorn server in a thread
(signals reach only the main thread, so the test calls handle_exit as the signal handler would)."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from lms_runtime import create_app
from lms_runtime.drain import DrainingServer

router = APIRouter()


@router.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.01)


def test_while_draining_readyz_is_503_health_is_200_and_connections_close() -> None:
    checked: list[str] = []
    app = create_app(service="demo", routers=[router], readiness={"db": lambda: checked.append("db")})
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "ready")
        assert "connection" not in client.get("/hello").headers  # keep-alive while serving normally
        app.state.drain.draining = True
        checked.clear()
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, {"status": "draining", "checks": {}})
        assert checked == [], "a draining service does not bother its dependencies"
        for path in ("/healthz", "/hello", "/readyz"):
            response = client.get(path, headers={"X-Request-ID": "req-7"})
            assert response.headers["connection"] == "close", path
            assert response.headers["x-request-id"] == "req-7"
        assert client.get("/healthz").status_code == 200


class Running:
    """A DrainingServer serving app on an ephemeral loopback port, in a thread."""

    def __init__(self, app: FastAPI, drain_seconds: float) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, timeout_graceful_shutdown=5)
        self.server = DrainingServer(config, app.state.drain, drain_seconds)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0  # the one the kernel picked, once listening

    def get(self, path: str) -> tuple[int, dict[str, str], object]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            headers = {name.lower(): value for name, value in response.getheaders()}
            return response.status, headers, json.loads(response.read())
        finally:
            connection.close()

    def sigterm(self) -> None:
        self.server.handle_exit(signal.SIGTERM, None)


@contextmanager
def running(drain_seconds: float) -> Iterator[Running]:
    served = Running(create_app(service="demo", routers=[router]), drain_seconds)
    served.thread.start()
    try:
        wait_until(lambda: served.server.started, 10, "the server listening")
        served.port = int(served.server.servers[0].sockets[0].getsockname()[1])
        yield served
    finally:
        served.server.should_exit = served.server.force_exit = True
        served.thread.join(timeout=10)


def test_the_server_keeps_serving_for_the_drain_then_exits() -> None:
    with running(drain_seconds=1.0) as served:
        assert served.get("/readyz")[0] == 200
        signalled = time.monotonic()
        served.sigterm()
        wait_until(lambda: served.get("/readyz")[0] == 503, 5, "/readyz at 503")
        status, headers, body = served.get("/readyz")  # a new connection: still accepted
        assert (status, body, headers["connection"]) == (503, {"status": "draining", "checks": {}}, "close")
        status, headers, body = served.get("/healthz")
        assert (status, body, headers["connection"]) == (200, {"status": "ok"}, "close")
        served.thread.join(timeout=10)
        assert not served.thread.is_alive(), "the server stopped after the drain"
        assert time.monotonic() - signalled >= 1.0, "it served for the whole drain first"


def test_a_second_signal_ends_the_drain_at_once() -> None:
    with running(drain_seconds=60) as served:
        served.sigterm()
        wait_until(lambda: served.get("/readyz")[0] == 503, 5, "/readyz at 503")
        served.sigterm()
        served.thread.join(timeout=10)
        assert not served.thread.is_alive(), "the second signal stopped the server without a 60 s drain"
        assert not served.server.force_exit, "in-flight requests still get their graceful shutdown"


def test_no_drain_when_turned_off() -> None:
    with running(drain_seconds=0) as served:
        started = time.monotonic()
        served.sigterm()
        served.thread.join(timeout=10)
        assert not served.thread.is_alive()
        assert time.monotonic() - started < 5
        assert not served.server.drain.draining
