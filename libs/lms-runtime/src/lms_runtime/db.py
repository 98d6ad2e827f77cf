"""Databases for services that have one: SQLAlchemy 2 engines, sessions, and errors answered as 503.

Migrations: lms_runtime.migrations (Alembic) and `python -m lms_runtime.migrate`.

The same code runs on PostgreSQL (psycopg 3) in containers and on in-process SQLite in unit tests.

FastAPI's side (the 503 handler, a session or a read connection per request: SessionDep,
ReadConnectionDep, ...) is in lms_runtime.db_requests and is imported from here on first use, so a
migration job (`python -m lms_runtime.migrate`: this module and the service's models) does not
import FastAPI: that was a third of the job's CPU, and every deploy runs one per database.
"""

from __future__ import annotations

import logging
import select
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import SecretStr
from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

POOL_SIZE = 8  # per worker process: 2 workers x 2 replicas x 2 services stay well under max_connections 100
# A request waits at most this long for a free pooled connection, then answers 503 (below): under a
# burst or while PostgreSQL restarts it fails fast and visibly instead of holding its gateway
# connection. A request's worst wait is both (a free slot at the pool timeout's end, then a connect that
# times out): 4 s, and 8 s through the gateway, which tries an idempotent request on a second task after
# a 503. At 5 s + 3 s that was up to 16 s, past the 10 s a client (the resilience load) waits: a fresh CI
# run saw a read time out while PostgreSQL restarted. libpq's connect_timeout is 2 s at least.
POOL_TIMEOUT_SECONDS = 2
CONNECT_TIMEOUT_SECONDS = 2
DATABASE_UNAVAILABLE = "the database is unavailable; retry shortly"
DATABASE_READ_ONLY = "the database is read-only for maintenance; retry shortly"
# PostgreSQL's read_only_sql_transaction: a write while the database is read-only (a restore sets
# default_transaction_read_only while it runs).
READ_ONLY_SQLSTATE = "25006"
READ_ONLY_RETRY_AFTER = "5"
log = logging.getLogger("lms.db")


def make_engine(url: str, password: SecretStr | None = None) -> Engine:
    """An engine for url; the password (from a secret file) is added here, never kept in the URL."""
    parsed = make_url(url)
    if password is not None:
        parsed = parsed.set(password=password.get_secret_value())
    if parsed.get_backend_name() == "sqlite":
        # One shared in-memory database for all threads of a test process.
        return create_engine(parsed, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    # A fixed pool, no overflow: overflow connections are closed when returned, so under load every
    # request beyond the pool paid a new PostgreSQL backend (measured: a third of /courses' time).
    # Request threads beyond the pool wait for a connection instead.
    engine = create_engine(
        parsed,
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )
    event.listen(engine, "checkout", refuse_closed_connection)
    return engine


def refuse_closed_connection(dbapi_connection: object, _record: object, _proxy: object) -> None:
    """A connection that outlived a database restart is replaced, never handed to a request.

    Instead of pool_pre_ping's `SELECT 1` round trip on every checkout (measured: 6% of a page of
    courses' time), look at the idle socket: PostgreSQL ends every backend it stops with a FATAL
    message and closes the socket, so an idle connection with anything to read is one the server
    has closed (or, rarely, a notice: then a fresh connection costs only a reconnect). Raising
    DisconnectionError makes the pool discard it and check out a new one."""
    closed = getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False)
    fileno = getattr(dbapi_connection, "fileno", None)
    if closed:
        raise DisconnectionError("the database connection is closed")
    if fileno is None:  # SQLite: no socket
        return
    poller = select.poll()
    poller.register(fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the database closed this idle connection (a restart?)")


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or went away (a restart, a failover), or the pool stayed
    exhausted: errors a retry a moment later may not meet, unlike a constraint violation or a bug."""
    if isinstance(exc, OperationalError | PoolTimeoutError):
        return True
    # A disconnect SQLAlchemy noticed (it invalidated the connection), or a driver-level
    # OperationalError that reached SQLAlchemy under another class.
    return isinstance(exc, DBAPIError) and (exc.connection_invalidated or _is_driver_operational(exc.orig))


def _is_driver_operational(orig: BaseException | None) -> bool:
    try:
        import psycopg
    except ImportError:  # SQLite only (unit tests)
        return False
    return isinstance(orig, psycopg.OperationalError)


def is_database_read_only(exc: BaseException) -> bool:
    """A write refused because the database is read-only for maintenance (SQLSTATE 25006)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    return getattr(orig, "sqlstate", None) == READ_ONLY_SQLSTATE


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("select 1"))


def wait_until_reachable(engine: Engine, timeout: float, first_delay: float = 0.5) -> None:
    """Retry until the database answers: in a Swarm nothing orders startups, and the database may
    itself be restarting (a stop-first update). Raises the last error after timeout seconds."""
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        try:
            ping(engine)
            return
        except OperationalError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database not reachable yet (%s); retrying in %.1f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite drops the zone; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


class ReadConnection:
    """A connection for a request that only reads: in autocommit (no BEGIN and ROLLBACK round trips
    around its queries; under READ COMMITTED each statement has its own snapshot inside a
    transaction too, so what a reader sees does not change), and no ORM Session (closing one cost a
    seventh of a page of courses' time). Checked out on first use, in the thread that runs the
    endpoint: a pool that is momentarily exhausted then never blocks the event loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    def close(self) -> None:  # no I/O: an autocommit connection has nothing to roll back
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# The request side, imported on first use (see the module's docstring): `from lms_runtime.db import
# SessionDep` keeps working. Names only: the type checker reads them from the import below.
REQUEST_SIDE = frozenset({
    "DATABASE_DEPENDENCIES", "ReadConnectionDep", "SessionDep",
    "add_database_unavailable_handler", "get_read_connection", "get_session",
})  # fmt: skip

if TYPE_CHECKING:
    from lms_runtime.db_requests import DATABASE_DEPENDENCIES as DATABASE_DEPENDENCIES
    from lms_runtime.db_requests import ReadConnectionDep as ReadConnectionDep
    from lms_runtime.db_requests import SessionDep as SessionDep
    from lms_runtime.db_requests import add_database_unavailable_handler as add_database_unavailable_handler
    from lms_runtime.db_requests import get_read_connection as get_read_connection
    from lms_runtime.db_requests import get_session as get_session


def __getattr__(name: str) -> object:
    if name in REQUEST_SIDE:
        from lms_runtime import db_requests

        value = getattr(db_requests, name)
        globals()[name] = value  # found once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
