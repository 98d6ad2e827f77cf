"""The service's migrations (app/migrations) against its models, on SQLite (docs/migrations.md).

The same file in every service with a database; a service's own migration tests go in other files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from app.models import Base
from fastapi.testclient import TestClient
from lms_runtime.db import make_engine
from lms_runtime.migrations import Migrations, SchemaNotReadyError, compare, downgrade, upgrade, wait_for_schema
from sqlalchemy import inspect, text

SERVICE = Path(__file__).resolve().parents[1]


@pytest.fixture
def migrations() -> Migrations:
    return Migrations.of_service()


@pytest.fixture
def empty_url(tmp_path: Path) -> str:
    return f"sqlite+pysqlite:///{tmp_path / 'empty.db'}"


def every_revision(migrations: Migrations) -> list[str]:
    return [script.revision for script in reversed(list(migrations.script().walk_revisions()))]


def test_the_migrations_build_exactly_the_models(migrations: Migrations, empty_url: str) -> None:
    """`alembic check`: an empty database upgraded to head differs from the models in nothing."""
    engine = make_engine(empty_url)
    result = upgrade(engine, migrations)
    assert (result.before, result.applied) == (None, every_revision(migrations))
    with engine.connect() as connection:
        assert compare(connection, migrations) == (migrations.head(), [])
    engine.dispose()


def test_downgrade_to_base_removes_everything(migrations: Migrations, empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine, migrations)
    downgrade(engine, migrations, "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]
    upgrade(engine, migrations)  # and back up
    assert set(inspect(engine).get_table_names()) == {"alembic_version", *Base.metadata.tables}
    engine.dispose()


def test_the_app_waits_for_its_head_and_never_migrates(migrations: Migrations, empty_url: str) -> None:
    engine = make_engine(empty_url)
    with pytest.raises(SchemaNotReadyError, match="has no Alembic revision"):
        wait_for_schema(engine, migrations, timeout=0)
    assert inspect(engine).get_table_names() == []
    upgrade(engine, migrations)
    assert wait_for_schema(engine, migrations, timeout=0) == "ready"
    engine.dispose()


@pytest.fixture
def newer_schema(database_url: str) -> None:
    """A newer image migrated the database, then this image was rolled back to."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("update alembic_version set version_num = 'ffff_from_a_newer_image'"))
    engine.dispose()


def test_a_rolled_back_image_serves_a_newer_schema(newer_schema: None, client: TestClient) -> None:
    """Expand/contract: a migration keeps the previous version working, so it starts and serves."""
    assert client.get("/readyz").json()["checks"]["database"] == "ok"


def migrate_command(url: str, *args: str) -> tuple[int, dict[str, object]]:
    """`python -m lms_runtime.migrate` as the image runs it: from the service folder, app importable."""
    # The service folder first, then whatever made lms_runtime importable here (an install, or a
    # PYTHONPATH pointing at libs/lms-runtime/src as lmsops's base upgrade and template tests set).
    path = os.pathsep.join(part for part in (str(SERVICE), os.environ.get("PYTHONPATH", "")) if part)
    environ = {**os.environ, "LMS_DATABASE_URL": url, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-m", "lms_runtime.migrate", *args],
        cwd=SERVICE,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines, f"the migrate command printed nothing (exit {done.returncode}): {done.stderr}"
    return done.returncode, json.loads(lines[-1])


def test_the_migrate_command_upgrades_then_checks(migrations: Migrations, tmp_path: Path, empty_url: str) -> None:
    database, head = str(tmp_path / "empty.db"), migrations.head()
    assert migrate_command(empty_url, "upgrade") == (
        0,
        {"ok": True, "database": database, "from": None, "to": head, "applied": every_revision(migrations)},
    )
    assert migrate_command(empty_url, "check") == (
        0,
        {"ok": True, "database": database, "revision": head, "head": head, "differences": []},
    )
    table = Base.metadata.sorted_tables[0].name
    engine = make_engine(empty_url)
    with engine.begin() as connection:
        connection.execute(text(f"alter table {table} add column added_by_hand text"))
    engine.dispose()
    code, report = migrate_command(empty_url, "check")
    assert (code, report["differences"]) == (
        1,
        [{"object": f"column {table}.added_by_hand", "change": "in the database, not in the migrations"}],
    )
