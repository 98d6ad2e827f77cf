from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from lms_runtime import create_app
from lms_runtime.db import (
    SessionDep,
    UTCDateTime,
    make_engine,
    refuse_closed_connection,
    session_factory,
    wait_until_reachable,
)
from lms_runtime.logs import configure_logging
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

metadata = MetaData()
stamps = Table("stamps", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))


def test_timestamps_come_back_in_utc_on_sqlite() -> None:
    engine = make_engine("sqlite+pysqlite:///:memory:")
    metadata.create_all(engine)
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(insert(stamps).values(id=1, at=moment))
        assert connection.execute(select(stamps.c.at)).scalar_one() == moment


def test_an_unreachable_database_is_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")  # nothing listens on port 9
    with caplog.at_level(logging.WARNING), pytest.raises(OperationalError):
        wait_until_reachable(engine, timeout=1.2, first_delay=0.2)
    retries = [r for r in caplog.records if "database not reachable yet" in r.getMessage()]
    assert retries, "it retried before giving up"
    assert "retrying in 0.2 s" in retries[0].getMessage()


class IdleConnection:
    """What the pool's checkout check reads of a psycopg connection: its state and its socket."""

    def __init__(self, sock: socket.socket, closed: bool = False) -> None:
        self.sock, self.closed, self.broken = sock, closed, False

    def fileno(self) -> int:
        return self.sock.fileno()


def test_a_connection_the_database_closed_is_never_handed_to_a_request() -> None:
    ours, server = socket.socketpair()
    with ours, server:
        refuse_closed_connection(IdleConnection(ours), None, None)  # open and idle: handed out
        # What PostgreSQL does to every backend when it stops: a FATAL message, then the socket closes.
        server.sendall(b"E\x00\x00\x00\x10SFATAL\x00C57P01\x00\x00")
        server.close()
        with pytest.raises(DisconnectionError):
            refuse_closed_connection(IdleConnection(ours), None, None)
        with pytest.raises(DisconnectionError):
            refuse_closed_connection(IdleConnection(ours, closed=True), None, None)


failing = APIRouter()
REFUSED = Exception("connection refused\nIs the server running on that host?")


@failing.get("/refused")
def refused() -> None:
    raise OperationalError("select 1", {}, REFUSED)


@failing.get("/pool-exhausted")
def pool_exhausted() -> None:
    raise PoolTimeoutError("QueuePool limit of size 8 overflow 0 reached, connection timed out, timeout 5.00")


@failing.get("/invalidated")
def invalidated() -> None:
    raise DBAPIError("select 1", {}, Exception("server closed the connection"), connection_invalidated=True)


@failing.get("/read-only")
def read_only() -> None:
    import psycopg

    orig = psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")
    raise InternalError("insert into courses", {}, orig)


@failing.get("/constraint")
def constraint() -> None:
    raise IntegrityError("insert", {}, Exception("duplicate key"))


@failing.get("/query")
def query(session: SessionDep) -> None:
    session.execute(text("select 1"))


@pytest.mark.parametrize("path", ["/refused", "/pool-exhausted", "/invalidated"])
def test_an_unavailable_database_answers_503_and_logs_one_line(capsys: pytest.CaptureFixture[str], path: str) -> None:
    app = create_app(service="demo", routers=[failing])
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("demo", "info")
    try:
        with TestClient(app) as client:
            response = client.get(path, headers={"X-Request-ID": "req-9"})
    finally:
        root.handlers[:], root.level = saved
    assert (response.status_code, response.json()) == (503, {"detail": "the database is unavailable; retry shortly"})
    assert response.headers["retry-after"] == "1"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    warnings = [line for line in lines if line["level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["request_id"] == "req-9"
    assert warnings[0]["message"].startswith("database unavailable (")
    assert f"GET {path} answered 503" in warnings[0]["message"]
    assert not any("exception" in line for line in lines), "no traceback for an outage"


def test_a_write_while_the_database_is_read_only_answers_503() -> None:
    with TestClient(create_app(service="demo", routers=[failing])) as client:
        response = client.get("/read-only")
    assert (response.status_code, response.json()) == (
        503,
        {"detail": "the database is read-only for maintenance; retry shortly"},
    )
    assert response.headers["retry-after"] == "5"


def test_other_database_errors_stay_500() -> None:
    with TestClient(create_app(service="demo", routers=[failing]), raise_server_exceptions=False) as client:
        assert client.get("/constraint").status_code == 500


def test_a_request_answers_503_quickly_while_postgresql_is_down() -> None:
    app = create_app(service="demo", routers=[failing])
    app.state.sessions = session_factory(make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none"))
    with TestClient(app) as client:
        started = time.monotonic()
        response = client.get("/query")
    assert (response.status_code, response.json()["detail"]) == (503, "the database is unavailable; retry shortly")
    assert time.monotonic() - started < 5
