"""The runtime contract every LMS service serves (lms_runtime): liveness, readiness, version."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_readiness_version(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    assert client.get("/version").json()["service"] == "enrollment"
