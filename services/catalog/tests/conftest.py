"""catalog unit tests: the real application on in-process SQLite, no Docker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from app.core.config import Settings
from app.main import create_app
from fastapi.testclient import TestClient
from lms_runtime.db import make_engine
from lms_runtime.migrations import Migrations, upgrade


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A SQLite file migrated to head, as the deploy's migration job leaves the database."""
    url = f"sqlite+pysqlite:///{tmp_path / 'catalog.db'}"
    engine = make_engine(url)
    upgrade(engine, Migrations.of_service())
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(env="test", database_url=database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
