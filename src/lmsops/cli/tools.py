"""Tools around the platform: cluster, bench, resilience."""

from __future__ import annotations

import argparse

from lmsops.cli.common import (
    Command,
    context,
    engine,
    repository,
    source_flags,
)
from lmsops.cluster import cluster_down, cluster_up
from lmsops.core.progress import Reporter
from lmsops.resilience.scenarios import ALL as SCENARIO_NAMES


def cmd_cluster(args: argparse.Namespace) -> int:
    ctx = context(args)
    ctx.docker.require_engine()
    if args.action == "down":
        cluster_down(ctx.repo, ctx.docker, ctx.report)
        return 0
    for node in cluster_up(ctx, args.nodes, args.registry):
        print(f"    {node.name} {node.address} {'manager' if node.manager else 'worker'}")
    return 0


# Imported by the commands that use them: with httpx (and, through it, rich and click when they are
# installed) they were a third of every other command's start.


def cmd_bench(args: argparse.Namespace) -> int:
    from lmsops.bench.report import bench

    bench(repository(), engine(), Reporter())
    return 0


def cmd_resilience(args: argparse.Namespace) -> int:
    from lmsops.resilience.load import LoadShape
    from lmsops.resilience.run import resilience

    shape = LoadShape(clients=args.clients, per_client_rate=args.rate)
    reports = resilience(
        repository(), engine(), args.env, args.scenarios, Reporter(), shape, init_swarm=args.init_swarm
    )
    # A missed goal fails the command (the runner has printed which and why): CI and scripts see it.
    return 0 if reports and not any(report.missed for report in reports) else 1


def register(command: Command) -> None:
    cluster_cmd = command("cluster", cmd_cluster, "a multi-node Swarm of Docker-in-Docker nodes on this machine")
    cluster_cmd.add_argument("action", choices=["up", "down"])
    cluster_cmd.add_argument("--nodes", type=int, default=3, help="up: how many nodes (the first is the manager)")
    cluster_cmd.add_argument("--registry", default="127.0.0.1:5000", help="up: the loopback registry the nodes use")
    source_flags(cluster_cmd)
    command("bench", cmd_bench, "image sizes and no-op build time, as ratios against their baselines")
    resilience_cmd = command(
        "resilience", cmd_resilience, "updates and faults under load, on a throwaway copy of an environment"
    )
    resilience_cmd.add_argument("env", help="the environment to copy: dev, staging, production")
    resilience_cmd.add_argument("scenarios", nargs="*", help=f"scenarios (default: all): {', '.join(SCENARIO_NAMES)}")
    resilience_cmd.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    resilience_cmd.add_argument("--init-swarm", action="store_true", help="make this engine a single-node swarm")
    resilience_cmd.add_argument("--rate", type=float, default=20.0, help="requests per second per client (default 20)")
