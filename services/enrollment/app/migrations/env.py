"""Alembic's entry point for this service; the logic is shared by every service (lms_runtime.migrations)."""

from lms_runtime.migrations import run_env

from app.models import Base

run_env(Base.metadata)
