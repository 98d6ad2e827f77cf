"""The enrollment service's databases migrated before Alembic (lms_schema_migrations) are adopted in place."""

from __future__ import annotations

from pathlib import Path

from lms_runtime.db import make_engine
from lms_runtime.migrations import Migrations, compare, upgrade
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, UniqueConstraint, text
from sqlalchemy.engine import Connection


def legacy_0001(connection: Connection) -> None:
    """The hand-written migration 0001_enrollments as released before Alembic (frozen copy)."""
    metadata = MetaData()
    table = Table(
        "enrollments",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("learner_id", String(64), nullable=False),
        Column("course_id", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("enrolled_at", DateTime(timezone=True), nullable=False),
        Column("withdrawn_at", DateTime(timezone=True), nullable=True),
        UniqueConstraint("learner_id", "course_id", name="uq_enrollments_learner_course"),
    )
    Index("ix_enrollments_learner_id", table.c.learner_id)
    Index("ix_enrollments_course_id", table.c.course_id)
    metadata.create_all(connection)
    connection.execute(text("create table lms_schema_migrations (id varchar(200) primary key, applied_at timestamp)"))
    connection.execute(text("insert into lms_schema_migrations values ('0001_enrollments', CURRENT_TIMESTAMP)"))


def test_a_database_migrated_before_alembic_is_adopted_in_place(tmp_path: Path) -> None:
    migrations = Migrations.of_service()
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'legacy.db'}")
    with engine.begin() as connection:
        legacy_0001(connection)
        connection.execute(text("insert into enrollments values (1, 'ada', 7, 'active', '2026-01-01 00:00:00', null)"))
    result = upgrade(engine, migrations)
    assert (result.before, result.applied) == ("0001", [])
    with engine.connect() as connection:
        assert compare(connection, migrations) == ("0001", [])  # the old 0001 schema is the new 0001
        assert connection.execute(text("select learner_id from enrollments")).scalar_one() == "ada"
    engine.dispose()
