"""lms_runtime.migrations and `python -m lms_runtime.migrate` on SQLite, with a small script directory
written per test (the services' own migrations are tested in their unit tests)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from lms_runtime.db import make_engine
from lms_runtime.migrate import UsageError, database_settings, main
from lms_runtime.migrations import (
    IN_DB,
    IN_MIGRATIONS,
    Migrations,
    SchemaNotReadyError,
    adopt_legacy,
    current_revision,
    upgrade,
    wait_for_schema,
)
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect, text

ENV_PY = """
from alembic import context
from lms_runtime.migrations import run_env

run_env(context.config.attributes["metadata"])
"""
MAKO = '''"""${message}"""
import sqlalchemy as sa
from alembic import op
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
'''
FIRST = '''"""stamps"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "stamps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("stamps")
'''
BROKEN = '''"""broken"""
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.execute("insert into no_such_table values (1)")


def downgrade():
    pass
'''


def models() -> MetaData:
    metadata = MetaData()
    Table("stamps", metadata, Column("id", Integer, primary_key=True), Column("label", String(40), nullable=False))
    return metadata


def project(root: Path, *versions: tuple[str, str], legacy: dict[str, str] | None = None) -> Migrations:
    (root / "versions").mkdir(parents=True)
    (root / "env.py").write_text(ENV_PY)
    (root / "script.py.mako").write_text(MAKO)
    for name, body in versions:
        (root / "versions" / name).write_text(body)
    return Migrations(root, models(), legacy or {})


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+pysqlite:///{tmp_path / 'db.sqlite'}"


def run(migrations: Migrations, url: str, *argv: str, stdin: str = "") -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main(
        list(argv), environ={"LMS_DATABASE_URL": url}, stdin=io.StringIO(stdin), stdout=out, migrations=migrations
    )
    lines = out.getvalue().splitlines()
    return code, json.loads(lines[-1])


def test_upgrade_applies_what_is_missing_once_and_reports_json(tmp_path: Path, url: str) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST))
    database = str(tmp_path / "db.sqlite")
    assert run(migrations, url, "upgrade") == (
        0,
        {"ok": True, "database": database, "from": None, "to": "0001", "applied": ["0001"]},
    )
    assert run(migrations, url, "upgrade", "--wait", "5") == (
        0,
        {"ok": True, "database": database, "from": "0001", "to": "0001", "applied": []},
    )


def test_a_failing_migration_is_named_with_its_file(tmp_path: Path, url: str) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST), ("0002_broken.py", BROKEN))
    code, report = run(migrations, url, "upgrade")
    assert code == 1
    assert set(report) == {"ok", "database", "failed", "file", "error"}
    assert (report["ok"], report["failed"], report["file"]) == (False, "0002", "versions/0002_broken.py")
    assert report["error"].startswith("OperationalError: ")
    assert "no such table: no_such_table" in report["error"]
    assert "\n" not in report["error"]


def test_upgrade_without_a_database_url_fails_before_anything(tmp_path: Path) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST))
    out = io.StringIO()
    assert main(["upgrade"], environ={}, stdout=out, migrations=migrations) == 1
    report = json.loads(out.getvalue().splitlines()[-1])
    assert report == {
        "ok": False,
        "database": "",
        "failed": None,
        "file": None,
        "error": "UsageError: LMS_DATABASE_URL: required, not set",
    }


def test_check_is_ok_at_head_and_names_every_difference(tmp_path: Path, url: str) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST))
    code, report = run(migrations, url, "check")
    assert code == 1
    assert report["differences"][0] == {
        "object": "revision",
        "change": "the database is at None, the migrations' head is 0001",
    }
    assert {"object": "table stamps", "change": IN_MIGRATIONS} in report["differences"]

    run(migrations, url, "upgrade")
    assert run(migrations, url, "check") == (
        0,
        {"ok": True, "database": str(tmp_path / "db.sqlite"), "revision": "0001", "head": "0001", "differences": []},
    )

    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("alter table stamps add column notes varchar(10)"))
        connection.execute(text("create table extra (id integer primary key)"))
    engine.dispose()
    code, report = run(migrations, url, "check")
    assert (code, report["ok"], report["revision"]) == (1, False, "0001")
    assert sorted(report["differences"], key=str) == [
        {"object": "column stamps.notes", "change": IN_DB},
        {"object": "table extra", "change": IN_DB},
    ]


def test_check_reports_a_missing_table(tmp_path: Path, url: str) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST))
    run(migrations, url, "upgrade")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("drop table stamps"))
    engine.dispose()
    code, report = run(migrations, url, "check")
    assert code == 1
    assert report["differences"] == [{"object": "table stamps", "change": IN_MIGRATIONS}]


def test_check_of_an_unreachable_database_is_an_error(tmp_path: Path) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST))
    code, report = run(migrations, "postgresql+psycopg://nobody@127.0.0.1:9/none", "check", "--wait", "0")
    assert (code, report["ok"], report["database"]) == (2, False, "none")
    assert report["error"].startswith("OperationalError: ")


def test_the_password_comes_from_stdin_a_file_or_in_dev_a_variable(tmp_path: Path) -> None:
    url = "postgresql+psycopg://catalog@db/catalog"
    first = database_settings({"LMS_DATABASE_URL": url}, io.StringIO("s3cret\nignored\n"))[1]
    assert first is not None and first.get_secret_value() == "s3cret"
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    from_file = database_settings({"LMS_DATABASE_URL": url, "LMS_DATABASE_PASSWORD_FILE": str(secret)}, None)[1]
    assert from_file is not None and from_file.get_secret_value() == "from-file"
    with pytest.raises(UsageError, match="a secret must come from a file outside dev"):
        database_settings({"LMS_DATABASE_URL": url, "LMS_ENV": "production", "LMS_DATABASE_PASSWORD": "x"}, None)
    with pytest.raises(UsageError, match="standard input gave no password"):
        database_settings({"LMS_DATABASE_URL": url}, io.StringIO(""))


def test_a_legacy_database_is_adopted_at_the_equivalent_revision(tmp_path: Path, url: str) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST), legacy={"0001_stamps": "0001"})
    engine = make_engine(url)
    with engine.begin() as connection:  # what the hand-written migrate() left behind
        models().create_all(connection)
        connection.execute(
            text("create table lms_schema_migrations (id varchar(200) primary key, applied_at timestamp)")
        )
        connection.execute(text("insert into lms_schema_migrations values ('0001_stamps', CURRENT_TIMESTAMP)"))
        connection.execute(text("insert into stamps values (1, 'kept')"))
    result = upgrade(engine, migrations)
    assert (result.before, result.applied) == ("0001", [])
    with engine.connect() as connection:
        assert connection.execute(text("select label from stamps")).scalar_one() == "kept"
    engine.dispose()
    assert run(migrations, url, "check")[0] == 0  # the legacy table is on the ignore list


def test_an_unknown_legacy_history_is_refused(tmp_path: Path, url: str) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST), legacy={"0001_stamps": "0001"})
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("create table lms_schema_migrations (id varchar(200) primary key)"))
        connection.execute(text("insert into lms_schema_migrations values ('0007_something_else')"))
        with pytest.raises(Exception, match="this image can adopt"):
            adopt_legacy(connection, migrations)
        assert current_revision(connection) is None
    engine.dispose()


def test_the_app_waits_for_its_head_or_a_newer_schema(tmp_path: Path, url: str) -> None:
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST))
    engine = make_engine(url)
    with pytest.raises(SchemaNotReadyError, match="has no Alembic revision"):
        wait_for_schema(engine, migrations, timeout=0)

    slept: list[float] = []

    def deploy_migrates(seconds: float) -> None:  # the migration job finishes while the app waits
        slept.append(seconds)
        upgrade(engine, migrations)

    assert wait_for_schema(engine, migrations, timeout=60, poll=0.5, sleep=deploy_migrates) == "ready"
    assert slept == [0.5]
    with engine.begin() as connection:
        connection.execute(text("update alembic_version set version_num = '0099_from_a_newer_image'"))
    assert wait_for_schema(engine, migrations, timeout=0) == "newer"
    engine.dispose()


def test_the_app_does_not_serve_an_older_schema(tmp_path: Path, url: str) -> None:
    second = FIRST.replace('"0001"', '"0002"').replace("down_revision = None", 'down_revision = "0001"')
    second = second.replace('"stamps"', '"more"')
    migrations = project(tmp_path / "m", ("0001_stamps.py", FIRST), ("0002_more.py", second))
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("create table alembic_version (version_num varchar(32) primary key)"))
        connection.execute(text("insert into alembic_version values ('0001')"))
    with pytest.raises(SchemaNotReadyError, match=r"database: at 0001, image head 0002"):
        wait_for_schema(engine, migrations, timeout=0)
    assert inspect(engine).get_table_names() == ["alembic_version"]  # the app never migrates
    engine.dispose()
