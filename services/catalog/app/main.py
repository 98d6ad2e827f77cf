"""The catalog application: courses API on the shared runtime contract."""

from __future__ import annotations

from fastapi import FastAPI
from lms_runtime import create_app as create_service_app
from lms_runtime.db import make_engine, ping, session_factory
from lms_runtime.migrations import Migrations, wait_for_schema

from app.api.routes import courses
from app.core.config import Settings


def create_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings.database_url, settings.database_password)

    def wait_for_migrations() -> None:
        # The deploy migrates (python -m lms_runtime.migrate upgrade) before this version takes
        # traffic; the app only waits for the schema it was built for, or a newer one.
        wait_for_schema(engine, Migrations.of_service())

    app = create_service_app(
        service="catalog",
        routers=[courses.router],
        readiness={"database": lambda: ping(engine)},
        startup=wait_for_migrations,
        shutdown=engine.dispose,
    )
    app.state.sessions = session_factory(engine)
    return app
