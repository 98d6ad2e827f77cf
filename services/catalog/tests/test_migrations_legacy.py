"""The catalog's databases migrated before Alembic (lms_schema_migrations) are adopted in place."""

from __future__ import annotations

from pathlib import Path

from lms_runtime.db import make_engine
from lms_runtime.migrations import Migrations, compare, upgrade
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
    text,
)
from sqlalchemy.engine import Connection


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


def test_a_database_migrated_before_alembic_is_adopted_in_place(tmp_path: Path) -> None:
    migrations = Migrations.of_service()
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'legacy.db'}")
    with engine.begin() as connection:
        legacy_0001(connection)
        connection.execute(
            text(
                "insert into courses values (1, 'PY101', 'Python', '', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    result = upgrade(engine, migrations)
    assert (result.before, result.applied) == ("0001", [])
    with engine.connect() as connection:
        assert compare(connection, migrations) == ("0001", [])  # the old 0001 schema is the new 0001
        assert connection.execute(text("select code from courses")).scalar_one() == "PY101"
    engine.dispose()
