"""Enrollment unit tests: the real application on in-process SQLite, no Docker.

The catalog is a small stand-in app reached through a TestClient (an httpx.Client), or a real
closed port on loopback when the test is about the catalog being down.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from app.core.config import Settings
from app.main import create_app
from fastapi import FastAPI, HTTPException, Response
from fastapi.testclient import TestClient

CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused at once


@dataclass
class StandInCatalog:
    published: dict[int, bool] = field(default_factory=dict)
    failures_before_success: int = 0
    calls: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/courses/{course_id}", response_model=None)
        def course(course_id: int) -> dict[str, object] | Response:
            self.calls += 1
            if self.failures_before_success > 0:
                self.failures_before_success -= 1
                return Response(status_code=503)
            if course_id not in self.published:
                raise HTTPException(404, f"course {course_id} does not exist")
            return {"id": course_id, "published": self.published[course_id]}

        return app


def settings(catalog_url: str = "http://catalog.test") -> Settings:
    return Settings(env="test", database_url="sqlite+pysqlite:///:memory:", catalog_url=catalog_url, catalog_attempts=3)


@pytest.fixture
def catalog() -> StandInCatalog:
    return StandInCatalog(published={1: True, 2: False})


@pytest.fixture
def client(catalog: StandInCatalog) -> Iterator[TestClient]:
    catalog_client = TestClient(catalog.app(), base_url="http://catalog.test")
    with TestClient(create_app(settings(), catalog_client)) as test_client:
        yield test_client


@pytest.fixture
def client_without_catalog() -> Iterator[TestClient]:
    http = httpx.Client(base_url=CLOSED_PORT_URL, timeout=1.0)
    with TestClient(create_app(settings(CLOSED_PORT_URL), http)) as test_client:
        yield test_client
