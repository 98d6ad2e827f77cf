"""The catalog's migrations (app/migrations) against its models, on SQLite; PostgreSQL in
tests/integration/test_migrations.py. docs/migrations.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from app.core.config import Settings
from app.main import create_app
from fastapi.testclient import TestClient
from lms_runtime.db import make_engine
from lms_runtime.migrations import Migrations, SchemaNotReadyError, compare, downgrade, upgrade, wait_for_schema
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.engine import Connection

SERVICE = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_url(tmp_path: Path) -> str:
    return f"sqlite+pysqlite:///{tmp_path / 'empty.db'}"


def test_the_migrations_build_exactly_the_models(empty_url: str) -> None:
    """`alembic check`: an empty database upgraded to head differs from the models in nothing."""
    migrations = Migrations.of_service()
    engine = make_engine(empty_url)
    result = upgrade(engine, migrations)
    assert (result.before, result.applied) == (None, ["0001"])
    with engine.connect() as connection:
        assert compare(connection, migrations) == ("0001", [])
    engine.dispose()


def test_downgrade_to_base_removes_everything(empty_url: str) -> None:
    migrations = Migrations.of_service()
    engine = make_engine(empty_url)
    upgrade(engine, migrations)
    downgrade(engine, migrations, "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]
    upgrade(engine, migrations)  # and back up
    assert set(inspect(engine).get_table_names()) == {"alembic_version", "courses", "course_modules"}
    engine.dispose()


def legacy_0001(connection: Connection) -> None:
    """The hand-written migration 0001_courses_and_modules as released before Alembic (frozen copy)."""
    metadata = MetaData()
    Table(
        "courses",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("code", String(32), nullable=False, unique=True),
        Column("title", String(200), nullable=False),
        Column("description", Text, nullable=False),
        Column("published", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "course_modules",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
        Column("position", Integer, nullable=False),
        Column("title", String(200), nullable=False),
        Column("summary", Text, nullable=False),
        UniqueConstraint("course_id", "position", name="uq_course_modules_position"),
    )
    metadata.create_all(connection)
    connection.execute(text("create table lms_schema_migrations (id varchar(200) primary key, applied_at timestamp)"))
    connection.execute(text("insert into lms_schema_migrations values ('0001_courses_and_modules', CURRENT_TIMESTAMP)"))


def test_a_database_migrated_before_alembic_is_adopted_in_place(empty_url: str) -> None:
    migrations = Migrations.of_service()
    engine = make_engine(empty_url)
    with engine.begin() as connection:
        legacy_0001(connection)
        connection.execute(
            text("insert into courses values (1, 'PY101', 'Python', '', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
        )
    result = upgrade(engine, migrations)
    assert (result.before, result.applied) == ("0001", [])
    with engine.connect() as connection:
        assert compare(connection, migrations) == ("0001", [])  # the old 0001 schema is the new 0001
        assert connection.execute(text("select code from courses")).scalar_one() == "PY101"
    engine.dispose()


def test_the_app_starts_on_its_head_or_a_newer_schema_and_waits_on_an_older_one(empty_url: str) -> None:
    migrations = Migrations.of_service()
    engine = make_engine(empty_url)
    with pytest.raises(SchemaNotReadyError, match="has no Alembic revision"):
        wait_for_schema(engine, migrations, timeout=0)
    upgrade(engine, migrations)
    assert wait_for_schema(engine, migrations, timeout=0) == "ready"
    with engine.begin() as connection:  # a newer image migrated, then this image was rolled back to
        connection.execute(text("update alembic_version set version_num = '0002_from_the_future'"))
    assert wait_for_schema(engine, migrations, timeout=0) == "newer"
    with TestClient(create_app(Settings(env="test", database_url=empty_url))) as client:
        assert client.get("/courses").status_code == 200
    engine.dispose()


def migrate_command(url: str, *args: str) -> tuple[int, dict[str, object]]:
    """`python -m lms_runtime.migrate` as the image runs it: from the service folder, app importable."""
    environ = {**os.environ, "LMS_DATABASE_URL": url, "PYTHONPATH": str(SERVICE)}
    done = subprocess.run(
        [sys.executable, "-m", "lms_runtime.migrate", *args],
        cwd=SERVICE,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout.splitlines()[-1])


def test_the_migrate_command_upgrades_then_checks(tmp_path: Path, empty_url: str) -> None:
    database = str(tmp_path / "empty.db")
    assert migrate_command(empty_url, "upgrade") == (
        0,
        {"ok": True, "database": database, "from": None, "to": "0001", "applied": ["0001"]},
    )
    assert migrate_command(empty_url, "check") == (
        0,
        {"ok": True, "database": database, "revision": "0001", "head": "0001", "differences": []},
    )
    engine = make_engine(empty_url)
    with engine.begin() as connection:
        connection.execute(text("alter table courses add column notes text"))
    engine.dispose()
    code, report = migrate_command(empty_url, "check")
    assert (code, report["differences"]) == (
        1,
        [{"object": "column courses.notes", "change": "in the database, not in the migrations"}],
    )
