"""`python -m lms_runtime.migrate upgrade|check` in a service's image (PYTHONPATH=/srv, cwd /srv).

    upgrade [--password-stdin] [--wait SECONDS]   apply what is missing: one transaction, one lock
    check   [--password-stdin] [--wait SECONDS]   the live database against the models and the head

Settings come from the environment the app uses: LMS_DATABASE_URL, the password from
LMS_DATABASE_PASSWORD_FILE (or, with --password-stdin, the first line of standard input; or
LMS_DATABASE_PASSWORD in dev and test). Progress goes to stderr; the last line of stdout is one JSON
object (docs/migrations.md):

    upgrade: {"ok": true, "database", "from", "to", "applied": [...]}                       exit 0
             {"ok": false, "database", "failed", "file", "error"}                          exit 1
    check:   {"ok", "database", "revision", "head", "differences": [{"object", "change"}]}  exit 0 | 1
             {"ok": false, "error"}                                                         exit 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from lms_runtime.db import make_engine, wait_until_reachable
from lms_runtime.migrations import Migrations, UpgradeResult, compare, upgrade
from lms_runtime.settings import PLAIN_SECRETS_ALLOWED

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
log = logging.getLogger("lms.migrate")


class UsageError(Exception):
    pass


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lms_runtime.migrate", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("upgrade", "apply the missing migrations"), ("check", "compare the database with the models")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
        sub.add_argument("--wait", type=float, default=60.0, metavar="SECONDS", help="wait this long for the database")
    return parser.parse_args(argv)


def database_settings(environ: Mapping[str, str], stdin: IO[str] | None) -> tuple[str, SecretStr | None]:
    """LMS_DATABASE_URL and its password, as the app reads them (lms_runtime.settings)."""
    url = environ.get("LMS_DATABASE_URL")
    if not url:
        raise UsageError("LMS_DATABASE_URL: required, not set")
    if stdin is not None:
        line = stdin.readline().rstrip("\r\n")
        if not line:
            raise UsageError("--password-stdin: standard input gave no password")
        return url, SecretStr(line)
    if "LMS_DATABASE_PASSWORD_FILE" in environ:
        path = environ["LMS_DATABASE_PASSWORD_FILE"]
        try:
            return url, SecretStr(Path(path).read_text(encoding="utf-8").rstrip("\n"))
        except OSError as exc:
            raise UsageError(f"LMS_DATABASE_PASSWORD_FILE: cannot read {path} ({exc.strerror})") from exc
    if "LMS_DATABASE_PASSWORD" in environ:
        if environ.get("LMS_ENV") not in PLAIN_SECRETS_ALLOWED:
            raise UsageError(
                "LMS_DATABASE_PASSWORD: a secret must come from a file outside dev; set LMS_DATABASE_PASSWORD_FILE"
            )
        return url, SecretStr(environ["LMS_DATABASE_PASSWORD"])
    return url, None


def one_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}"[:500]


def run_upgrade(engine: Engine, migrations: Migrations, wait: float, database: str) -> tuple[int, dict[str, Any]]:
    result = UpgradeResult(before=None, head="")
    try:
        wait_until_reachable(engine, wait)
        upgrade(engine, migrations, result)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        failed = result.failing()
        log.error("upgrade failed%s: %s", f" in {failed}" if failed else "", one_line(exc))
        return EXIT_FAILED, {
            "ok": False,
            "database": database,
            "failed": failed,
            "file": migrations.file_of(failed) if failed else None,
            "error": one_line(exc),
        }
    log.info("database %s at %s; applied %s", database, result.head, result.applied or "nothing")
    return EXIT_OK, {
        "ok": True,
        "database": database,
        "from": result.before,
        "to": result.head,
        "applied": result.applied,
    }


def run_check(engine: Engine, migrations: Migrations, wait: float, database: str) -> tuple[int, dict[str, Any]]:
    try:
        wait_until_reachable(engine, wait)
        with engine.connect() as connection:
            revision, differences = compare(connection, migrations)
        head = migrations.head()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return EXIT_ERROR, {"ok": False, "database": database, "error": one_line(exc)}
    for difference in differences:
        log.warning("%s: %s", difference.object, difference.change)
    ok = not differences
    log.info("database %s %s the migrations", database, "matches" if ok else "differs from")
    return (EXIT_OK if ok else EXIT_FAILED), {
        "ok": ok,
        "database": database,
        "revision": revision,
        "head": head,
        "differences": [{"object": d.object, "change": d.change} for d in differences],
    }


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    migrations: Migrations | None = None,
) -> int:
    """The command; tests pass their own environment, streams and migrations."""
    args = parse(sys.argv[1:] if argv is None else argv)
    out = stdout or sys.stdout
    environ = os.environ if environ is None else environ
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="migrate: %(message)s")
    database = ""
    engine: Engine | None = None
    try:
        url, password = database_settings(environ, (stdin or sys.stdin) if args.password_stdin else None)
        database = make_url(url).database or ""
        migrations = migrations or Migrations.of_service()
        engine = make_engine(url, password)
        run = run_upgrade if args.command == "upgrade" else run_check
        code, report = run(engine, migrations, args.wait, database)
    except Exception as exc:  # bad settings, no migrations package: before anything was tried
        traceback.print_exc(file=sys.stderr)
        code = EXIT_FAILED if args.command == "upgrade" else EXIT_ERROR
        report = {"ok": False, "database": database, "error": one_line(exc)}
        if args.command == "upgrade":
            report.update(failed=None, file=None)
            report = {key: report[key] for key in ("ok", "database", "failed", "file", "error")}
    finally:
        if engine is not None:
            engine.dispose()
    print(json.dumps(report), file=out, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
