"""A failed deploy shows why: the last log lines of what failed, printed before the rollback.

Without them a user reads `catalog (restarting, starting)` and has to find the logs; after a
Compose rollback the failed container is gone with its output, so they are read first.
"""

from __future__ import annotations

from collections.abc import Sequence

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from lmsops.core.progress import Reporter
from lmsops.targets.base import LogOptions
from lmsops.targets.swarm_day2 import swarm_logs

LAST_LINES = 12  # enough for a Python traceback's end or a configuration error, short enough to read


def say_last_lines(report: Reporter, what: str, lines: Sequence[str], limit: int = LAST_LINES) -> None:
    """Print the last `limit` non-empty lines of what under a heading (or that it printed nothing)."""
    kept = [line for line in lines if line.strip()][-limit:]
    if not kept:
        report.say(f"    {what}: printed nothing")
        return
    report.say(f"    {what}, its last {len(kept)} log lines:")
    for line in kept:
        report.say(f"      | {line}")


def container_last_lines(docker: Docker, report: Reporter, what: str, container: str) -> None:
    """A Compose container's last lines (docker logs --tail), or what docker said when it cannot."""
    say_last_lines(report, what, docker.logs(container, tail=LAST_LINES, check=False).splitlines())


def service_last_lines(docker: Docker, report: Reporter, stack: str, service: str) -> None:
    """A Swarm service's last lines across its tasks, the failed ones too, in time order (as
    `nox -s logs` shows them: `service.SLOT@NODE | text`), wherever the tasks ran."""
    lines: list[str] = []
    try:
        swarm_logs(docker, stack, [service], LogOptions(tail=LAST_LINES), lines.append)
    except CommandError as exc:  # the deploy's own error follows: never hide it behind this one
        lines.append(f"(docker service logs failed: {exc})")
    say_last_lines(report, service, lines)
