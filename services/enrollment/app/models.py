"""Enrollments: a learner in a course. The enrollment service owns this table and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from lms_runtime.db import UTCDateTime
from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("learner_id", "course_id", name="uq_enrollments_learner_course"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    course_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
