"""The enrollment application: enrollments API on the shared runtime contract."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from lms_runtime import create_app as create_service_app
from lms_runtime.db import make_engine, ping, session_factory
from lms_runtime.migrations import Migrations, wait_for_schema

from app.api.routes import enrollments
from app.catalog import CatalogClient
from app.core.config import Settings


def create_app(settings: Settings, catalog_client: httpx.Client | None = None) -> FastAPI:
    """catalog_client: the HTTP client for the catalog (tests pass one bound to a test app)."""
    engine = make_engine(settings.database_url, settings.database_password)
    http = catalog_client or httpx.Client(base_url=settings.catalog_url, timeout=settings.catalog_timeout)
    catalog = CatalogClient(http, settings.catalog_attempts)

    def wait_for_migrations() -> None:
        # The deploy migrates (python -m lms_runtime.migrate upgrade) before this version takes
        # traffic; the app only waits for the schema it was built for, or a newer one.
        wait_for_schema(engine, Migrations.of_service())

    def close() -> None:
        http.close()
        engine.dispose()

    app = create_service_app(
        service="enrollment",
        routers=[enrollments.router],
        readiness={"database": lambda: ping(engine), "catalog": catalog.ping},
        startup=wait_for_migrations,
        shutdown=close,
    )
    app.state.sessions = session_factory(engine)
    app.state.catalog = catalog
    return app
