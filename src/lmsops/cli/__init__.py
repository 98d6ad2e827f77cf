"""`python -m lmsops`: the engine's command line; nox sessions are thin wrappers around it.

One module per domain registers its commands (images, environments, data, tools, day2, sbom); what
they share is in `common`. A user's mistake (LmsopsError) ends as one line and its exit code (2
configuration, 3 prerequisites, 1 otherwise); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lmsops import __version__
from lmsops.cli import data, day2, environments, images, sbom, tools
from lmsops.cli.common import Handler
from lmsops.core.errors import LmsopsError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lmsops", description="Build, deploy and check the LMS platform.")
    top.add_argument("--version", action="version", version=f"lmsops {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.set_defaults(handler=handler)
        return cmd

    for module in (images, environments, data, tools, day2, sbom):
        module.register(command)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except LmsopsError as exc:
        print(f"lmsops: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lmsops: interrupted", file=sys.stderr)
        return 130
    return code
