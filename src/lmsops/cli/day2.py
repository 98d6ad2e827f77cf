"""Day-2 commands, the same on every kind of target: ps, logs, exec, run.

Each one checks the environment, the services and the command it is given before it asks the
engine anything, then calls the environment's Target (lmsops.targets.base)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from lmsops.cli.common import Command, engine, print_table, repository
from lmsops.cluster import node_engines
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.environments.model import model_services
from lmsops.targets.base import LogOptions, Target, Task
from lmsops.targets.factory import target_for
from lmsops.targets.status import environment


def _target(repo: Repo, env_name: str, services: Sequence[str] = ()) -> Target:
    """env_name's target, once the environment and every service named are known ones and its engine answers."""
    env = environment(repo, env_name)
    known = sorted(model_services(repo))
    unknown = [name for name in services if name not in known]
    if unknown:
        raise ConfigError(f"{env_name} has no service {unknown[0]!r}; its services are: {', '.join(known)}")
    target = target_for(repo, engine(), env)
    target.engine.require_engine()
    return target


def _command(args: argparse.Namespace) -> list[str]:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise ConfigError(
            f"{args.name} needs a command after `--`: nox -s {args.name} -- {args.env} {args.service} -- CMD [ARG...]"
        )
    return command


def uptime(started: str, now: datetime | None = None) -> str:
    """'42 s', '5 min', '3 h', '2 d' since an ISO 8601 time as docker prints it; '-' when not started."""
    if not started or started.startswith("0001-"):
        return "-"
    try:
        when = datetime.fromisoformat(started.split(".")[0].removesuffix("Z")).replace(tzinfo=UTC)
    except ValueError:
        return "?"
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def cmd_ps(args: argparse.Namespace) -> int:
    tasks = _target(repository(), args.env).tasks()
    if args.json:
        print(json.dumps([asdict(task) | {"uptime": uptime(task.started)} for task in tasks], indent=2))
        return 0
    if not tasks:
        print(f"{args.env}: nothing is deployed (nox -s deploy -- {args.env})")
        return 0
    print_table(_rows(tasks))
    return 0


def _rows(tasks: list[Task]) -> list[tuple[str, ...]]:
    swarm = any(task.node for task in tasks)
    rows: list[tuple[str, ...]] = [
        ("SERVICE", "NAME", *(("NODE",) if swarm else ()), "STATE", "HEALTH", "IMAGE", "UP", "PORTS")
    ]
    for t in tasks:
        node = (t.node,) if swarm else ()
        rows.append((t.service, t.name, *node, t.state, t.health, t.image, uptime(t.started), t.ports or "-"))
    return rows


def cmd_logs(args: argparse.Namespace) -> int:
    target = _target(repository(), args.env, args.services)

    def out(line: str) -> None:
        print(line, flush=True)

    target.logs(args.services, LogOptions(args.follow, args.since, args.tail), out)
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    command = _command(args)
    repo = repository()
    target = _target(repo, args.env, [args.service])
    return target.exec_in(
        args.service, command, tty=sys.stdin.isatty(), node_engines=lambda: node_engines(repo, target.engine)
    )


def cmd_run(args: argparse.Namespace) -> int:
    command = _command(args)
    target = _target(repository(), args.env, [args.service])
    return target.run_once(args.service, command, tty=sys.stdin.isatty(), report=Reporter(sys.stderr))


def _tail(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines (0 or more)")
    return int(text)


def register(command: Command) -> None:
    ps_cmd = command("ps", cmd_ps, "every container or task of an environment: state, health, image, uptime, ports")
    ps_cmd.add_argument("env", help="an environment of env/")
    ps_cmd.add_argument("--json", action="store_true", help="print the rows as JSON")
    logs_cmd = command("logs", cmd_logs, "the logs of an environment's services, each line prefixed with its service")
    logs_cmd.add_argument("env", help="an environment of env/")
    logs_cmd.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (default: every one)")
    logs_cmd.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    logs_cmd.add_argument("--since", metavar="DURATION|TIME", help="only lines since then: 10m, 2h, or a time")
    logs_cmd.add_argument("--tail", type=_tail, metavar="N", help="only the last N lines of each container or task")
    for name, handler, text in (
        ("exec", cmd_exec, "run a command in a running container of a service (a terminal when stdin is one)"),
        ("run", cmd_run, "run a command once with a service's image, settings, secrets and network; exit code passed"),
    ):
        cmd = command(name, handler, text)
        cmd.set_defaults(name=name)
        cmd.add_argument("env", help="an environment of env/")
        cmd.add_argument("service", help="a service of the environment")
        cmd.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD", help="the command and its arguments")
