"""The catalog's schema history. Each migration is frozen once released: add new ones, never edit."""

from __future__ import annotations

from lms_runtime.db import Migration
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
)
from sqlalchemy.engine import Connection


def _0001_courses_and_modules(connection: Connection) -> None:
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


MIGRATIONS: list[Migration] = [("0001_courses_and_modules", _0001_courses_and_modules)]
