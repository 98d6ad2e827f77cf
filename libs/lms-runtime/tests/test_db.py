from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime

import pytest
from lms_runtime.db import UTCDateTime, make_engine, migrate, refuse_closed_connection, wait_until_reachable
from sqlalchemy import Column, Integer, MetaData, Table, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, OperationalError

metadata = MetaData()
stamps = Table("stamps", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))


def create_stamps(connection: Connection) -> None:
    metadata.create_all(connection)


def add_index(connection: Connection) -> None:
    connection.exec_driver_sql("CREATE INDEX ix_stamps_at ON stamps (at)")


def test_migrations_apply_once_in_order() -> None:
    engine = make_engine("sqlite+pysqlite:///:memory:")
    assert migrate(engine, [("0001", create_stamps)], "t") == ["0001"]
    assert migrate(engine, [("0001", create_stamps), ("0002", add_index)], "t") == ["0002"]
    assert migrate(engine, [("0001", create_stamps), ("0002", add_index)], "t") == []
    assert "ix_stamps_at" in {ix["name"] for ix in inspect(engine).get_indexes("stamps")}


def test_timestamps_come_back_in_utc_on_sqlite() -> None:
    engine = make_engine("sqlite+pysqlite:///:memory:")
    migrate(engine, [("0001", create_stamps)], "t")
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
