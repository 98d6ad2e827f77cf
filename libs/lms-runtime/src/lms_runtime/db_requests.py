"""FastAPI's side of a service's database: errors a retry may fix answered 503 (or 422 for a value
the database refused), one session or one read connection per request.

Imported through lms_runtime.db on first use (`from lms_runtime.db import SessionDep`), never by a
migration job (lms_runtime.db says why).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from lms_runtime.db import (
    DATABASE_READ_ONLY,
    DATABASE_UNAVAILABLE,
    READ_ONLY_RETRY_AFTER,
    ReadConnection,
    is_database_read_only,
    is_database_unavailable,
    log,
)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(exc, DataError):
        return _refused_value(request, cause)
    if is_database_read_only(exc):
        log.warning("database read-only: %s %s answered 503", request.method, request.url.path)
        return JSONResponse(
            {"detail": DATABASE_READ_ONLY}, status_code=503, headers={"Retry-After": READ_ONLY_RETRY_AFTER}
        )
    if not is_database_unavailable(exc):
        raise exc  # any other database error stays a 500 with its traceback: it is a bug
    reason = (str(cause).splitlines() or [""])[0][:200]
    # One line, no traceback: the outage is the news, not where each request met it. The request id
    # comes with it (lms_runtime.logs).
    log.warning(
        "database unavailable (%s: %s): %s %s answered 503",
        type(cause).__name__,
        reason,
        request.method,
        request.url.path,
    )
    return JSONResponse({"detail": DATABASE_UNAVAILABLE}, status_code=503, headers={"Retry-After": "1"})


def _refused_value(request: Request, cause: BaseException) -> JSONResponse:
    """A value the database refused (SQLSTATE class 22, data exception: a number out of range, a NUL
    in text), which only a request can have brought: the request is invalid, a 422 in FastAPI's
    shape, never a 500. The API's own bounds (lms_runtime.api) should have refused it first: the
    warning says which input still got through."""
    reason = (str(cause).splitlines() or [""])[0][:200]
    log.warning("database refused a value (%s: %s): %s %s answered 422",
                type(cause).__name__, reason, request.method, request.url.path)  # fmt: skip
    error = {"type": "database_refused", "loc": ["request"], "msg": f"the database refused a value: {reason}"}
    return JSONResponse({"detail": [error]}, status_code=422)


def add_database_unavailable_handler(app: FastAPI) -> None:
    """Database errors that a retry may fix answer 503 with a JSON detail, never a 500 or a hang;
    so does a write while the database is read-only for maintenance (a restore).

    Nothing is left half-written: a request writes in one transaction (get_session), rolled back
    when it fails. The service recovers by itself once the database is back: the pool replaces the
    connections the restart closed (refuse_closed_connection)."""
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, from the factory the service put in app.state.sessions.

    One transaction per request: the session begins one at its first statement, and the services'
    endpoints commit once, when everything is written. A request that fails before that commit
    (the database gone mid-request) leaves nothing applied: closing the session rolls back. A
    connection lost during the COMMIT itself leaves the outcome unknown to the service, but never
    half-applied."""
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


async def get_read_connection(request: Request) -> AsyncIterator[ReadConnection]:
    """async, so FastAPI opens and closes it on the event loop instead of handing each step to a
    thread (ReadConnection does no I/O there)."""
    readers: Engine | None = getattr(request.app.state, "read_engine", None)
    if readers is None:
        factory: sessionmaker[Session] = request.app.state.sessions
        readers = factory.kw["bind"].execution_options(isolation_level="AUTOCOMMIT")
        request.app.state.read_engine = readers
    reader = ReadConnection(readers)
    try:
        yield reader
    finally:
        reader.close()


SessionDep = Annotated[Session, Depends(get_session)]
ReadConnectionDep = Annotated[ReadConnection, Depends(get_read_connection)]
# What a route depends on when it uses the database: its OpenAPI then lists the 503 above (lms_runtime.api).
DATABASE_DEPENDENCIES = (get_session, get_read_connection)
