"""Commands about environments: config, plan, deploy, status, drift, down, history, promote, rollback,
registry, publish."""

from __future__ import annotations

import argparse
import json
import sys

from lmsops.cli.common import (
    Command,
    context,
    engine,
    lock_flags,
    lock_policy,
    print_table,
    repository,
    source_flags,
)
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count
from lmsops.data.backup import backup_before_removal
from lmsops.deploy.apply import deploy, rollback
from lmsops.deploy.plan import plan_environment
from lmsops.deploy.plan_output import as_json as plan_json
from lmsops.deploy.plan_output import text as plan_text
from lmsops.deploy.promote import promote
from lmsops.drift.report import as_json, report
from lmsops.environments.config import known_environments, load_environment
from lmsops.environments.model import model_services, resolve
from lmsops.releases.history import history_json, history_rows, history_table
from lmsops.releases.publish import publish
from lmsops.releases.registry import registry_down, registry_up
from lmsops.targets.factory import target_for
from lmsops.targets.status import compare, down, status


def cmd_config(args: argparse.Namespace) -> int:
    model = resolve(repository(), engine(), args.env)
    sys.stdout.write(model.text)
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    deploy(context(args), args.env, yes=args.yes, init_swarm=args.init_swarm, lock=lock_policy(args))
    return 0


def _print_json(document: object) -> None:
    """One JSON document on stdout (keys documented in docs/environments.md, "--json")."""
    print(json.dumps(document, indent=2))


def cmd_plan(args: argparse.Namespace) -> int:
    plan = plan_environment(context(args), args.env)
    if args.json:
        _print_json(plan_json(plan))
    else:
        print(plan_text(plan))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    rows = status(repository(), engine(), args.env)
    if args.json:
        keys = ("service", "desired", "running", "health", "image", "revision")
        _print_json({"env": args.env, "services": [{key: getattr(row, key) for key in keys} for row in rows]})
        return 0
    if not rows:
        print(f"{args.env}: nothing is deployed")
        return 0
    table = [("SERVICE", "RUNNING", "HEALTH", "IMAGE", "REVISION")]
    table += [(r.service, f"{r.running}/{r.desired}", r.health, r.image, r.revision) for r in rows]
    print_table(table)
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    differences = compare(repository(), engine(), args.env)
    if args.json:
        _print_json({"env": args.env, "drifted": bool(differences), "differences": [as_json(d) for d in differences]})
        return 1 if differences else 0
    if not differences:
        print(f"drift: {args.env} runs exactly what is declared (no difference)")
        return 0
    print(report(differences))
    print(f"drift: {args.env}: {count(len(differences), 'difference')} between what is declared and what runs")
    return 1


def cmd_down(args: argparse.Namespace) -> int:
    repo, docker, report = repository(), engine(), Reporter()
    if args.volumes and not args.no_backup:  # a confirm: true environment's databases are backed up first
        first = backup_before_removal(repo, docker, args.env, report)
        down(repo, docker, args.env, True, report, lock_policy(args), yes=args.yes, before_removal=first)
    else:
        down(repo, docker, args.env, args.volumes, report, lock_policy(args), yes=args.yes)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    repo, docker = repository(), engine()
    target = target_for(repo, docker, load_environment(repo, args.env, model_services(repo)))
    history = target.history()
    running = {row.service: row.image for row in target.status()} if history else {}
    rows = history_rows(history, running)
    if args.json:
        _print_json({"env": args.env, "releases": history_json(rows)})
        return 0
    if not history:
        print(f"history: no release of {args.env} recorded yet (nox -s deploy -- {args.env})")
        return 0
    print_table(history_table(rows))
    print("* the release running now (its images are what runs; else the last one deployed)")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    promote(context(args), args.source, args.destination, yes=args.yes, lock=lock_policy(args))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    rollback(context(args), args.env, yes=args.yes, lock=lock_policy(args))
    return 0


def _registries(repo: Repo, given: str | None) -> list[str]:
    """--registry, else every registry the environments deploy from."""
    if given:
        return [given]
    services = model_services(repo)
    targets = [load_environment(repo, name, services).target for name in known_environments(repo)]
    found = sorted({target.registry for target in targets if target.registry})
    if not found:
        raise ConfigError("no environment of env/ names a registry (target.registry); give --registry HOST:PORT")
    return found


def cmd_registry(args: argparse.Namespace) -> int:
    ctx = context(args)
    ctx.docker.require_engine()
    if args.action == "down":
        registry_down(ctx.docker, ctx.report, args.volumes)
        return 0
    for address in _registries(ctx.repo, args.address):
        registry_up(ctx, address)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    ctx = context(args)
    for address in _registries(ctx.repo, args.registry):
        publish(ctx, address)
    return 0


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document (docs/environments.md)")


def register(command: Command) -> None:
    config_cmd = command("config", cmd_config, "print the resolved, validated model of an environment")
    config_cmd.add_argument("env", help="an environment of env/ (dev, staging, production)")
    deploy_cmd = command("deploy", cmd_deploy, "build once, deploy an environment, wait until it is healthy")
    deploy_cmd.add_argument("env", help="an environment of env/")
    deploy_cmd.add_argument("--yes", action="store_true", help="confirm a protected environment (production)")
    deploy_cmd.add_argument("--init-swarm", action="store_true", help="make this engine a single-node swarm if needed")
    lock_flags(deploy_cmd)
    source_flags(deploy_cmd)
    plan_cmd = command("plan", cmd_plan, "what a deploy of an environment would change, without changing anything")
    plan_cmd.add_argument("env", help="an environment of env/")
    json_flag(plan_cmd)
    status_cmd = command("status", cmd_status, "show each service: replicas, health, image, revision")
    status_cmd.add_argument("env", help="an environment of env/")
    json_flag(status_cmd)
    drift_cmd = command("drift", cmd_drift, "compare what runs with what is declared; exit 1 on any difference")
    drift_cmd.add_argument("env", help="an environment of env/")
    json_flag(drift_cmd)
    down_cmd = command("down", cmd_down, "remove an environment (volumes kept unless --volumes)")
    down_cmd.add_argument("env", help="an environment of env/")
    down_cmd.add_argument(
        "--volumes", action="store_true", help="also remove its volumes (its data) and, on Swarm, its release history"
    )
    down_cmd.add_argument("--yes", action="store_true", help="confirm a protected environment (production)")
    down_cmd.add_argument(
        "--no-backup", action="store_true", help="--volumes of a protected environment: delete without a backup first"
    )
    lock_flags(down_cmd)
    history_cmd = command("history", cmd_history, "the recorded releases of a Swarm environment, newest first")
    history_cmd.add_argument("env", help="an environment of env/ deployed to Swarm")
    json_flag(history_cmd)
    promote_cmd = command("promote", cmd_promote, "deploy to DESTINATION the digests running in SOURCE")
    promote_cmd.add_argument("source", help="e.g. staging")
    promote_cmd.add_argument("destination", help="e.g. production")
    promote_cmd.add_argument("--yes", action="store_true", help="confirm a protected destination (production)")
    lock_flags(promote_cmd)
    rollback_cmd = command("rollback", cmd_rollback, "redeploy the previous release of every service together")
    rollback_cmd.add_argument("env", help="an environment of env/ deployed to Swarm")
    rollback_cmd.add_argument("--yes", action="store_true", help="confirm a protected environment (production)")
    lock_flags(rollback_cmd)
    registry_cmd = command("registry", cmd_registry, "start (up) or remove (down) lmsops's local registry on loopback")
    registry_cmd.add_argument("action", choices=["up", "down"])
    registry_cmd.add_argument("--address", help="HOST:PORT (default: the registries env/*.yaml deploy from)")
    registry_cmd.add_argument("--volumes", action="store_true", help="down: also remove the pushed images")
    source_flags(registry_cmd)
    publish_cmd = command("publish", cmd_publish, "push this commit's images to the registries and record digests")
    publish_cmd.add_argument("--registry", help="HOST:PORT (default: every registry env/*.yaml deploys from)")
    source_flags(publish_cmd)
