"""Commands about the services' data: backup, backups, restore."""

from __future__ import annotations

import argparse

from lmsops.cli.common import (
    Command,
    engine,
    lock_flags,
    lock_policy,
    print_table,
    repository,
)
from lmsops.core.progress import Reporter
from lmsops.data.backup import backup
from lmsops.data.manifest import size_text
from lmsops.data.restore import restore
from lmsops.data.store import backup_store
from lmsops.targets.status import environment


def cmd_backup(args: argparse.Namespace) -> int:
    backup(repository(), engine(), args.env, args.services, Reporter(), lock_policy(args))
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    repo = repository()
    folder = backup_store(repo, engine(), environment(repo, args.env))
    listing = folder.listing()
    if not listing.backups:
        print(f"backups: none of {args.env} in {folder.description} (nox -s backup -- {args.env})")
    else:
        rows = [("ID", "SERVICE", "TAKEN (UTC)", "SIZE", "REVISION", "COMMIT", "RELEASE")]
        rows += [
            (m.id, m.service, m.taken_at, size_text(m.size), m.revision or "-", (m.commit or "-")[:12],
             f"#{m.release}" if m.release is not None else "-")
            for m in listing.backups
        ]  # fmt: skip
        print_table(rows)
        print(f"backups: {len(listing.backups)} of {args.env} in {folder.description}")
    if listing.unreadable:
        print(f"backups: not lmsops manifests, ignored: {', '.join(listing.unreadable)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    restore(
        repository(), engine(), args.env, args.backup, Reporter(), lock_policy(args),
        yes=args.yes, no_backup=args.no_backup,
    )  # fmt: skip
    return 0


def register(command: Command) -> None:
    backup_cmd = command("backup", cmd_backup, "back up each service's database (pg_dump) with a manifest")
    backup_cmd.add_argument("env", help="an environment of env/")
    backup_cmd.add_argument("services", nargs="*", help="only these services (default: every one with a database)")
    lock_flags(backup_cmd)
    backups_cmd = command("backups", cmd_backups, "list the backups of an environment, newest first")
    backups_cmd.add_argument("env", help="an environment of env/")
    restore_cmd = command("restore", cmd_restore, "restore a service's database from a backup, then migrate it")
    restore_cmd.add_argument("env", help="an environment of env/")
    restore_cmd.add_argument("backup", help="a backup id (nox -s backups -- ENV) or the path of a backup's .dump")
    restore_cmd.add_argument("--yes", action="store_true", help="confirm a protected environment (production)")
    restore_cmd.add_argument(
        "--no-backup",
        action="store_true",
        help="a protected environment: restore without backing up that database first",
    )
    lock_flags(restore_cmd)
