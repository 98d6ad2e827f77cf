"""Enrollment unit tests: the real application on in-process SQLite, no Docker.

The catalog is a small stand-in app reached through a TestClient (an httpx.Client), or a real
closed port on loopback when the test is about the catalog being down.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from app.core.config import Settings
from app.main import create_app
from fastapi import FastAPI, HTTPException, Response
from fastapi.testclient import TestClient
from lms_runtime.db import make_engine
from lms_runtime.migrations import Migrations, upgrade

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


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A SQLite file migrated to head, as the deploy's migration job leaves the database."""
    url = f"sqlite+pysqlite:///{tmp_path / 'enrollment.db'}"
    engine = make_engine(url)
    upgrade(engine, Migrations.of_service())
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(env="test", database_url=database_url, catalog_url="http://catalog.test", catalog_attempts=3)


@pytest.fixture
def catalog() -> StandInCatalog:
    return StandInCatalog(published={1: True, 2: False})


@pytest.fixture
def client(settings: Settings, catalog: StandInCatalog) -> Iterator[TestClient]:
    catalog_client = TestClient(catalog.app(), base_url="http://catalog.test")
    with TestClient(create_app(settings, catalog_client)) as test_client:
        yield test_client


@pytest.fixture
def client_without_catalog(settings: Settings) -> Iterator[TestClient]:
    http = httpx.Client(base_url=CLOSED_PORT_URL, timeout=1.0)
    without_catalog = settings.model_copy(update={"catalog_url": CLOSED_PORT_URL})
    with TestClient(create_app(without_catalog, http)) as test_client:
        yield test_client
