"""The FastAPI application every service starts from: health, readiness, version, request ids."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from lms_runtime import buildinfo
from lms_runtime.api import document_common_errors, method_not_allowed, validation_error
from lms_runtime.drain import CloseWhileDraining, Drain
from lms_runtime.logs import RequestIdMiddleware

# A readiness check raises (any exception) when its dependency is not reachable.
ReadinessCheck = Callable[[], None] | Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
READINESS_TIMEOUT_SECONDS = 3.0
log = logging.getLogger("lms.runtime")


async def _run_check(check: ReadinessCheck) -> None:
    if inspect.iscoroutinefunction(check):
        await asyncio.wait_for(check(), READINESS_TIMEOUT_SECONDS)
    else:
        await asyncio.wait_for(asyncio.to_thread(check), READINESS_TIMEOUT_SECONDS)


class Readiness(BaseModel):
    status: str  # ready, not ready, draining
    checks: dict[str, str]  # each dependency: "ok", or "failed: ..."


def contract_router(service: str, readiness: Mapping[str, ReadinessCheck], drain: Drain | None = None) -> APIRouter:
    router = APIRouter(tags=["runtime"])
    drain = Drain() if drain is None else drain  # a router on its own never drains

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: the process answers. Never checks dependencies (a restart would not fix them); still
        200 while draining (a failing health check would get the task killed before it drained)."""
        return {"status": "ok"}

    not_ready: dict[int | str, dict[str, Any]] = {
        503: {"model": Readiness, "description": "A dependency failed its check, or the service drains"}
    }

    @router.get("/readyz", response_model=Readiness, responses=not_ready)
    async def readyz() -> JSONResponse:
        """Ready: every dependency answers; 503 with what failed otherwise, or while draining."""
        if drain.draining:  # shutting down: send nothing new here (lms_runtime.drain)
            return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
        results: dict[str, str] = {}
        for name, check in readiness.items():
            try:
                await _run_check(check)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
        ready = all(value == "ok" for value in results.values())
        body = {"status": "ready" if ready else "not ready", "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/version")
    async def version() -> dict[str, str]:
        """Service, version, git revision and build time as baked into the image."""
        return buildinfo.read(service)

    return router


def create_app(
    *,
    service: str,
    routers: Iterable[APIRouter],
    readiness: Mapping[str, ReadinessCheck] | None = None,
    startup: Callable[[], None] | None = None,
    shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """A service app: its routers plus the runtime contract; startup runs before the first request.

    app.state.drain is set while the server drains on SIGTERM (lms_runtime.drain). Database errors
    that a retry may fix (the database restarting, the pool exhausted) answer 503 (lms_runtime.db)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if startup is not None:
            await asyncio.to_thread(startup)
        log.info("ready to serve")
        yield
        if shutdown is not None:
            await asyncio.to_thread(shutdown)
        log.info("stopped")

    app = FastAPI(title=service, version=buildinfo.read(service)["version"], lifespan=lifespan)
    app.state.drain = drain = Drain()
    app.add_middleware(CloseWhileDraining, drain=drain)
    app.add_middleware(RequestIdMiddleware)
    # The HTTP contract (lms_runtime.api): a 405 names every method of its path in Allow, and the
    # OpenAPI lists the errors the runtime answers for a route (400, 503) besides the route's own.
    app.add_exception_handler(StarletteHTTPException, method_not_allowed)
    app.add_exception_handler(RequestValidationError, validation_error)
    database: tuple[Callable[..., object], ...] = ()
    try:
        from lms_runtime.db import DATABASE_DEPENDENCIES, add_database_unavailable_handler
    except ImportError:  # a service without a database: lms-runtime[db] (SQLAlchemy) not installed
        pass
    else:
        add_database_unavailable_handler(app)
        database = DATABASE_DEPENDENCIES
    app.include_router(contract_router(service, readiness or {}, drain))
    for router in routers:
        app.include_router(router)
    document_common_errors(app, database)
    return app
