"""The enrollment service's schema history. Released migrations are frozen: add, never edit."""

from __future__ import annotations

from lms_runtime.db import Migration
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, UniqueConstraint
from sqlalchemy.engine import Connection


def _0001_enrollments(connection: Connection) -> None:
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


MIGRATIONS: list[Migration] = [("0001_enrollments", _0001_enrollments)]
