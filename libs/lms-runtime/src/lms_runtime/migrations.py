"""Schema migrations with Alembic, shared by every service with a database (docs/migrations.md).

A service ships its Alembic script directory as the package app/migrations (env.py, script.py.mako,
versions/); its env.py is two lines calling run_env here, so every service migrates the same way:

- `python -m lms_runtime.migrate upgrade` (a one-off job run by the deploy before the new version
  takes traffic) applies what is missing in one transaction on PostgreSQL, under an advisory lock;
- `python -m lms_runtime.migrate check` compares the live database with the models, deny by default;
- the app itself never migrates: at startup it waits until the database is at its head (or newer).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.types import TypeDecorator

from lms_runtime.db import make_engine

# The table of the hand-written migrations before Alembic; a database that has it and no
# alembic_version is adopted (adopt_legacy).
LEGACY_TABLE = "lms_schema_migrations"
VERSION_TABLE = "alembic_version"
# One advisory lock per database (PostgreSQL scopes advisory locks to the current database).
LOCK_KEY = zlib.crc32(b"lms-migrations")
# What `check` leaves out of the comparison: these tables only, each for its reason. Everything
# else Alembic compares is compared (docs/migrations.md).
IGNORED_TABLES: Mapping[str, str] = {
    VERSION_TABLE: "Alembic's own bookkeeping: which revision the schema is at (checked separately)",
    LEGACY_TABLE: "the pre-Alembic migration log, kept after adoption so an image from before Alembic "
    "still starts after a rollback (it reads this table at startup)",
}
SCHEMA_WAIT_SECONDS = 120.0
log = logging.getLogger("lms.migrations")


class MigrationError(Exception):
    """A migration could not be applied or the database could not be adopted; the message says why."""


class SchemaNotReadyError(Exception):
    """The database did not reach this image's schema in time."""


@dataclass(frozen=True)
class Migrations:
    """A service's migrations: its Alembic script directory, its models' metadata, and which
    pre-Alembic migration ids correspond to which Alembic revision (same schema)."""

    directory: Path
    metadata: MetaData
    legacy: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_service(cls, package: str = "app.migrations", models: str = "app.models") -> Migrations:
        """The running service's: the package app.migrations and app.models:Base.metadata."""
        module = importlib.import_module(package)
        metadata = importlib.import_module(models).Base.metadata
        if not isinstance(metadata, MetaData) or module.__file__ is None:
            raise MigrationError(f"{models}.Base.metadata and the package {package} are what migrations need")
        return cls(Path(module.__file__).parent, metadata, dict(getattr(module, "LEGACY_REVISIONS", {})))

    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    def config(self, connection: Connection | None = None) -> Config:
        config = Config(stdout=sys.stderr)  # nothing of Alembic's on stdout: its last line is our JSON
        config.set_main_option("script_location", str(self.directory))
        config.attributes["metadata"] = self.metadata
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def head(self) -> str:
        head = self.script().get_current_head()
        if head is None:
            raise MigrationError(f"{self.directory}/versions: no migration")
        return head

    def known(self) -> set[str]:
        return {revision.revision for revision in self.script().walk_revisions()}

    def file_of(self, revision: str) -> str:
        script = self.script().get_revision(revision)
        if script is None:
            return "?"
        return Path(script.path).relative_to(self.directory).as_posix()


# --- env.py ------------------------------------------------------------------------------------


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """A TypeDecorator (lms_runtime.db.UTCDateTime) is written as the SQLAlchemy type it stores as,
    so a released migration depends on SQLAlchemy only, never on the service's or runtime's code."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy."):
            return f"sa.{impl!r}"
    return False


def include_name(name: str | None, type_: str, _parent_names: Mapping[str, str | None]) -> bool:
    return not (type_ == "table" and name in IGNORED_TABLES)


def configure_options(metadata: MetaData) -> dict[str, Any]:
    """What every comparison and every run of migrations uses: strict, one transaction."""
    return {
        "target_metadata": metadata,
        # One transaction for a whole upgrade: on PostgreSQL a failing migration leaves nothing applied.
        "transaction_per_migration": False,
        "compare_type": True,
        "compare_server_default": True,
        "include_name": include_name,
        # ALTERs on SQLite (the unit tests) go through Alembic's batch mode; on PostgreSQL it is plain ALTER.
        "render_as_batch": True,
        "render_item": _render_item,
    }


def run_env(metadata: MetaData) -> None:
    """The body of every service's env.py. With a connection from lms_runtime.migrate it runs on it
    (inside its transaction and lock); from the `alembic` command on a developer's machine it
    connects to LMS_DATABASE_URL (password from LMS_DATABASE_PASSWORD_FILE) or alembic.ini's URL."""
    config = context.config
    options = configure_options(metadata)
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        options["on_version_apply"] = config.attributes.get("on_version_apply")
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    if context.is_offline_mode():
        context.configure(url=developer_url(config), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = developer_engine(config)
    try:
        with engine.connect() as developer_connection:
            context.configure(connection=developer_connection, **options)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def developer_url(config: Config) -> str:
    return os.environ.get("LMS_DATABASE_URL") or config.get_main_option("sqlalchemy.url") or "sqlite:///migrations.db"


def developer_engine(config: Config) -> Engine:
    password_file = os.environ.get("LMS_DATABASE_PASSWORD_FILE")
    password = SecretStr(Path(password_file).read_text().splitlines()[0]) if password_file else None
    return make_engine(developer_url(config), password)


# --- upgrade -----------------------------------------------------------------------------------


@dataclass
class UpgradeResult:
    before: str | None
    head: str
    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # what this upgrade set out to apply, in order

    def failing(self) -> str | None:
        """The revision being applied when an upgrade failed (None if it failed before any)."""
        remaining = self.pending[len(self.applied) :]
        return remaining[0] if remaining else None


def current_revision(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    if len(heads) > 1:
        raise MigrationError(f"the database is at several heads {sorted(heads)}; merge them first")
    return heads[0] if heads else None


def adopt_legacy(connection: Connection, migrations: Migrations) -> str | None:
    """A database migrated by the pre-Alembic migrations (lms_schema_migrations, no alembic_version)
    is stamped at the Alembic revision with the same schema; returns it (None: nothing to adopt)."""
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables or LEGACY_TABLE not in tables:
        return None
    done = set(connection.execute(text(f"select id from {LEGACY_TABLE}")).scalars())  # noqa: S608 - a constant
    if not done:
        return None
    order = list(migrations.legacy)
    if done != set(order[: len(done)]):
        raise MigrationError(f"{LEGACY_TABLE} holds {sorted(done)}; this image can adopt {order} (in that order) only")
    revision = migrations.legacy[order[len(done) - 1]]
    MigrationContext.configure(connection).stamp(migrations.script(), revision)
    log.info("adopted the database migrated before Alembic (%s): stamped at %s", ", ".join(sorted(done)), revision)
    return revision


def lock(connection: Connection) -> None:
    """Until the transaction ends, no other upgrade of this database runs (the second one waits)."""
    if connection.dialect.name == "postgresql":
        log.info("taking the migration lock of this database")
        connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def upgrade(engine: Engine, migrations: Migrations, result: UpgradeResult | None = None) -> UpgradeResult:
    """Bring the database to head in one transaction, under the lock; the lock is taken before the
    current revision is read, so replicas or jobs started together apply each migration once.
    Pass result to see how far a failing upgrade got (UpgradeResult.failing)."""
    head = migrations.head()
    result = result if result is not None else UpgradeResult(before=None, head=head)
    result.head = head

    def applied(*, ctx: MigrationContext, step: MigrationInfo, heads: set[str], run_args: dict[str, Any]) -> None:
        revision = step.up_revision_id
        if step.is_upgrade and isinstance(revision, str):
            result.applied.append(revision)

    with engine.connect() as connection, connection.begin():
        lock(connection)
        adopt_legacy(connection, migrations)
        result.before = current_revision(connection)
        if result.before is not None and result.before not in migrations.known():
            raise MigrationError(f"the database is at {result.before}, a revision this image does not know (newer?)")
        script = migrations.script()
        result.pending = [rev.revision for rev in reversed(list(script.iterate_revisions(head, result.before)))]
        log.info("database at %s, head %s: %d to apply", result.before, head, len(result.pending))
        config = migrations.config(connection)
        config.attributes["on_version_apply"] = applied
        command.upgrade(config, "head")
    return result


def downgrade(engine: Engine, migrations: Migrations, revision: str = "base") -> None:
    with engine.connect() as connection, connection.begin():
        lock(connection)
        command.downgrade(migrations.config(connection), revision)


# --- check -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    object: str
    change: str


IN_DB = "in the database, not in the migrations"
IN_MIGRATIONS = "in the migrations, not in the database"


def compare(connection: Connection, migrations: Migrations) -> tuple[str | None, list[Difference]]:
    """The live database against the models (== the migrations' head) and the head revision."""
    context_ = MigrationContext.configure(connection, opts=configure_options(migrations.metadata))
    differences = [describe(diff) for diff in _flatten(compare_metadata(context_, migrations.metadata))]
    revision = current_revision(connection)
    head = migrations.head()
    if revision != head:
        differences.insert(0, Difference("revision", f"the database is at {revision}, the migrations' head is {head}"))
    return revision, differences


def _flatten(diffs: list[Any]) -> list[tuple[Any, ...]]:
    flat: list[tuple[Any, ...]] = []
    for diff in diffs:
        flat += diff if isinstance(diff, list) else [diff]
    return flat


def _cols(columns: Any) -> str:
    return ", ".join(column.name for column in columns)


def _described(kind: str, item: Any) -> str:
    table = item.table.name
    if kind == "index":
        return f"index {item.name} on {table}({_cols(item.columns)})"
    if kind == "foreign key":
        target = item.elements[0].target_fullname.rsplit(".", 1)[0] if item.elements else "?"
        return f"foreign key {table}({_cols(item.columns)}) -> {target}"
    label = "unique constraint" if type(item).__name__ == "UniqueConstraint" else type(item).__name__
    return f"{label} {item.name or ''} on {table}({_cols(item.columns)})".replace("  ", " ")


_OBJECT_OPS: Mapping[str, tuple[str, str]] = {
    "add_index": ("index", IN_MIGRATIONS),
    "remove_index": ("index", IN_DB),
    "add_constraint": ("constraint", IN_MIGRATIONS),
    "remove_constraint": ("constraint", IN_DB),
    "add_fk": ("foreign key", IN_MIGRATIONS),
    "remove_fk": ("foreign key", IN_DB),
}
_MODIFY_OPS: Mapping[str, Callable[[Any, Any], str]] = {
    "modify_type": lambda old, new: f"type {old} in the database, {new} in the migrations",
    "modify_nullable": lambda old, new: f"{_null(old)} in the database, {_null(new)} in the migrations",
    "modify_default": lambda old, new: (
        f"server default {_default(old)} in the database, {_default(new)} in the migrations"
    ),
    "modify_comment": lambda old, new: f"comment {old!r} in the database, {new!r} in the migrations",
}


def _null(nullable: Any) -> str:
    return "NULL allowed" if nullable else "NOT NULL"


def _default(default: Any) -> str:
    if default is None:
        return "none"
    arg = getattr(default, "arg", default)
    return str(getattr(arg, "text", arg))


def describe(diff: tuple[Any, ...]) -> Difference:
    """One of compare_metadata's differences in words; an unknown kind is reported as it comes."""
    op = diff[0]
    if op in ("add_table", "remove_table"):
        return Difference(f"table {diff[1].name}", IN_MIGRATIONS if op == "add_table" else IN_DB)
    if op in ("add_column", "remove_column"):
        return Difference(f"column {diff[2]}.{diff[3].name}", IN_MIGRATIONS if op == "add_column" else IN_DB)
    if op in _OBJECT_OPS:
        kind, where = _OBJECT_OPS[op]
        return Difference(_described(kind, diff[1]), where)
    if op in _MODIFY_OPS:
        _, _schema, table, column, _existing, old, new = diff
        return Difference(f"column {table}.{column}", _MODIFY_OPS[op](old, new))
    if op in ("add_table_comment", "remove_table_comment"):
        return Difference(f"table {diff[1].name}", f"comment differs ({op})")
    return Difference(str(op), repr(diff[1:])[:300])


# --- the app's startup ---------------------------------------------------------------------------


def schema_state(engine: Engine, migrations: Migrations) -> tuple[str, str | None]:
    """("ready" | "newer" | "older" | "none" | "unreachable", the database's revision)."""
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
    except OperationalError:
        return "unreachable", None
    if revision is None:
        return "none", None
    if revision == migrations.head():
        return "ready", revision
    return ("older" if revision in migrations.known() else "newer"), revision


def wait_for_schema(
    engine: Engine,
    migrations: Migrations,
    timeout: float = SCHEMA_WAIT_SECONDS,
    poll: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Until the database is at this image's head, or at a revision it does not know (a newer schema:
    after an image rollback the old version still serves, expand/contract); the app never migrates.
    Raises SchemaNotReadyError after timeout seconds. Returns the state it found."""
    deadline = time.monotonic() + timeout
    head = migrations.head()
    next_log = 0.0
    while True:
        state, revision = schema_state(engine, migrations)
        if state == "ready":
            return state
        if state == "newer":
            log.info("the database is at %s, newer than this image's %s: serving (expand/contract)", revision, head)
            return state
        now = time.monotonic()
        if now >= deadline:
            message = (
                f"the database schema is not at this image's migrations after {timeout:.0f} s "
                f"(database: {_state_words(state, revision)}, image head {head}); "
                "run `python -m lms_runtime.migrate upgrade` with this image"
            )
            log.error(message)
            raise SchemaNotReadyError(message)
        if now >= next_log:
            log.info("waiting for migrations: database %s, image head %s", _state_words(state, revision), head)
            next_log = now + 15.0
        sleep(min(poll, max(deadline - now, 0.0)))


def _state_words(state: str, revision: str | None) -> str:
    return {
        "older": f"at {revision}",
        "none": "has no Alembic revision",
        "unreachable": "not reachable",
    }.get(state, str(revision))
