"""What every command shares: the engine and the repository it works on, the build mode, the one
context of a command, the deploy lock's options, and tables.

Handlers ask `engine()` and `repository()` rather than building them, so that tests can give every
command the same fake engine or project in one place."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from lmsops.core.docker import Docker
from lmsops.core.paths import Repo, find_repo
from lmsops.core.progress import Reporter
from lmsops.core.table import table_lines
from lmsops.images.bootstrap import Mode
from lmsops.images.context import Context
from lmsops.targets.lock import LockPolicy

Handler = Callable[[argparse.Namespace], int]
Command = Callable[[str, Handler, str], argparse.ArgumentParser]  # name, handler, help -> its parser


def engine() -> Docker:
    return Docker()


def repository() -> Repo:
    return find_repo()


def source_mode(args: argparse.Namespace) -> Mode:
    if getattr(args, "offline", False) or os.environ.get("LMSOPS_OFFLINE") == "1":
        return "offline"
    return "pull" if getattr(args, "pull", False) else "auto"


def context(args: argparse.Namespace) -> Context:
    """The one context of this command: every step shares its plan and its build (images/context.py)."""
    return Context(repository(), engine(), Reporter(verbose=getattr(args, "verbose", False)), source_mode(args))


def seconds(text: str) -> float:
    """A number of seconds, 0 or more (argparse type: a bad value is its one-line usage error)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 <= value < float("inf")):  # also refuses nan, which would wait forever
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def lock_policy(args: argparse.Namespace) -> LockPolicy:
    return LockPolicy(wait=args.lock_wait, break_lock=args.break_lock)


def lock_flags(parser: argparse.ArgumentParser) -> None:
    """The deploy lock's options, for every command that changes an environment."""
    parser.add_argument(
        "--lock-wait", type=seconds, default=LockPolicy.wait, metavar="SECONDS",
        help=f"wait this long for a command holding the environment's deploy lock (default {LockPolicy.wait:.0f})",
    )  # fmt: skip
    parser.add_argument(
        "--break-lock", action="store_true", help="first remove a stale deploy lock (its holder is gone)"
    )


def source_flags(cmd: argparse.ArgumentParser) -> None:
    """Where the OS root comes from, and how much of a build to show."""
    group = cmd.add_mutually_exclusive_group()
    group.add_argument(
        "--offline",
        action="store_true",
        help="never pull: bootstrap the OS root from Debian packages (also LMSOPS_OFFLINE=1)",
    )
    group.add_argument("--pull", action="store_true", help="pull the OS root by digest and fail if no registry answers")
    cmd.add_argument("-v", "--verbose", action="store_true", help="show the output of debootstrap and docker build")


def print_table(rows: Sequence[Sequence[str]]) -> None:
    print("\n".join(table_lines(rows)))
