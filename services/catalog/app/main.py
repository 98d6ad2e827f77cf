"""The catalog application: courses API on the shared runtime contract."""

from __future__ import annotations

from fastapi import FastAPI
from lms_runtime import create_app as create_service_app
from lms_runtime.db import make_engine, migrate, ping, session_factory

from app.api.routes import courses
from app.core.config import Settings
from app.migrations import MIGRATIONS


def create_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings.database_url, settings.database_password)

    def apply_migrations() -> None:
        migrate(engine, MIGRATIONS, lock_name="catalog-migrations")

    app = create_service_app(
        service="catalog",
        routers=[courses.router],
        readiness={"database": lambda: ping(engine)},
        startup=apply_migrations,
        shutdown=engine.dispose,
    )
    app.state.sessions = session_factory(engine)
    return app
