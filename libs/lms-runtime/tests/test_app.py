from __future__ import annotations

import json
import logging

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from lms_runtime import create_app
from lms_runtime.logs import configure_logging

router = APIRouter()


@router.get("/hello")
def hello() -> dict[str, str]:
    logging.getLogger("test").info("saying hello")
    return {"hello": "world"}


def failing_check() -> None:
    raise ConnectionError("db down")


def test_contract_endpoints_and_readiness_failure() -> None:
    app = create_app(service="demo", routers=[router], readiness={"db": failing_check, "ok": lambda: None})
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "not ready",
            "checks": {"db": "failed: ConnectionError: db down", "ok": "ok"},
        }
        assert client.get("/version").json() == {
            "service": "demo", "version": "unbuilt", "revision": "unknown", "built": "unknown",
        }  # fmt: skip


def test_logs_are_json_lines_with_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(service="demo", routers=[router])
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("demo", "info")
    try:
        with TestClient(app) as client:
            response = client.get("/hello", headers={"X-Request-ID": "req-42"})
    finally:
        root.handlers[:], root.level = saved
    assert response.headers["x-request-id"] == "req-42"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    hello = next(line for line in lines if line["message"] == "saying hello")
    assert {"service": "demo", "level": "info", "logger": "test", "request_id": "req-42"}.items() <= hello.items()
    access = next(line for line in lines if line["logger"] == "lms.access")
    assert (access["message"], access["status"], access["request_id"]) == ("GET /hello 200", 200, "req-42")
    assert access["duration_ms"] >= 0


@pytest.mark.parametrize(
    ("level", "logged"),
    [("info", ["GET /nowhere 404"]), ("debug", ["GET /healthz 200", "GET /readyz 200", "GET /nowhere 404"])],
)
def test_passing_health_and_readiness_checks_are_logged_at_debug_only(
    capsys: pytest.CaptureFixture[str], level: str, logged: list[str]
) -> None:
    app = create_app(service="demo", routers=[router])
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("demo", level)
    try:
        with TestClient(app) as client:
            client.get("/healthz")
            client.get("/readyz")  # the gateway asks every task every 2 s
            client.get("/nowhere")
    finally:
        root.handlers[:], root.level = saved
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines if line["logger"] == "lms.access"] == logged
