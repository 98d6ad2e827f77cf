"""`nox -s sbom -- [IMAGE...|ENV] [--output DIR] [--find PACKAGE] [--json]`: the SBOMs of images.

IMAGE is an image lmsops builds (catalog, python, postgres, os for the OS root) or any image
reference; none means every image of this commit. ENV (alone) means the images its services run,
as its target reports them. Everything asked for is resolved and checked before the first scan, so
a bad name changes nothing and writes nothing (docs/sbom.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from lmsops.cli.common import Command, engine, print_table, repository
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count
from lmsops.environments.config import known_environments, load_environment
from lmsops.environments.model import model_services
from lmsops.images.plan import plan_images
from lmsops.images.versions import OS_NAME, load_versions
from lmsops.supply.find import Holder, find
from lmsops.supply.lookup import registries, sbom_of
from lmsops.supply.manifest import registry_image
from lmsops.supply.syft import Scan, Scanner
from lmsops.targets.factory import target_for


@dataclass(frozen=True)
class Subject:
    """One image asked about: a label (its name, or the service that runs it) and its reference."""

    label: str
    reference: str


def _every_image(repo: Repo) -> dict[str, str]:
    """name -> reference of every image this commit builds, the OS root first."""
    versions = load_versions(repo)
    return {OS_NAME: versions.os.reference} | {image.name: image.reference for image in plan_images(repo, versions)}


def _environment(repo: Repo, docker: Docker, env: str) -> tuple[list[Subject], Docker]:
    target = target_for(repo, docker, load_environment(repo, env, model_services(repo)))
    target.engine.require_engine()
    rows = target.status()
    if not rows:
        raise ConfigError(f"{env}: nothing is deployed, so no image to read (nox -s deploy -- {env})")
    return [Subject(row.service, row.image) for row in rows], target.engine


def _images(repo: Repo, docker: Docker, names: list[str]) -> list[Subject]:
    images = _every_image(repo)
    if not names:
        return [Subject(name, reference) for name, reference in images.items()]
    subjects = []
    for name in names:
        if name in images:
            subjects.append(Subject(name, images[name]))
        elif re.search(r"[:/@]", name):  # a reference: REPOSITORY:TAG, REGISTRY/..., ...@sha256:...
            subjects.append(Subject(name, name))
        else:
            raise ConfigError(
                f"sbom: {name!r} is neither an environment of env/ ({', '.join(known_environments(repo))}) nor an "
                f"image lmsops builds ({', '.join(images)}); give one of them or an image reference (NAME:TAG)"
            )
    for subject in subjects:  # before any scan: a missing image changes and writes nothing
        if docker.image_id(subject.reference) is None and registry_image(subject.reference) is None:
            hint = f"nox -s build -- {subject.label}" if subject.label in images else "build or pull it first"
            raise ConfigError(f"image {subject.label} ({subject.reference}) is not on this Docker engine; {hint}")
    return subjects


def resolve(repo: Repo, docker: Docker, names: list[str]) -> tuple[list[Subject], Docker, bool]:
    """What to read the SBOMs of, the engine that has them, and whether they are an environment's services."""
    envs = [name for name in names if name in known_environments(repo)]
    if envs and len(names) > 1:
        raise ConfigError(f"sbom: give an environment ({envs[0]}) alone, or image names without one")
    if envs:
        subjects, target_engine = _environment(repo, docker, envs[0])
        return subjects, target_engine, True
    docker.require_engine()
    return _images(repo, docker, names), docker, False


def _file_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label) + ".cdx.json"


def _how(scan: Scan) -> str:
    return f"scanned in {scan.seconds:.1f} s" if scan.source == "scanned" else f"from the {scan.source}"


def _summary(scans: list[tuple[Subject, Scan]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("NAME", "IMAGE ID", "PACKAGES", "DEB", "PYPI", "OTHER", "LICENCE", "NONE", "SBOM")]
    for subject, scan in scans:
        kinds = [component.kind for component in scan.sbom.components]
        licensed = scan.sbom.licensed()
        debs, pypi = kinds.count("deb"), kinds.count("pypi")
        rows.append((
            subject.label, scan.sbom.image_id.removeprefix("sha256:")[:12], str(len(kinds)), str(debs), str(pypi),
            str(len(kinds) - debs - pypi), str(licensed), str(len(kinds) - licensed), _how(scan),
        ))  # fmt: skip
    return rows


def _components(scan: Scan) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("TYPE", "NAME", "VERSION", "LICENCES")]
    for c in sorted(scan.sbom.components, key=lambda c: (c.kind, c.name, c.version)):
        rows.append((c.kind, c.name, c.version, ", ".join(c.licences) or "-"))
    return rows


def cmd_sbom(args: argparse.Namespace) -> int:
    repo = repository()
    output: Path | None = args.output
    if output is not None and output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output}: a file is there; give a folder (it is created if missing)")
    subjects, docker, services = resolve(repo, engine(), list(args.names))
    progress = Reporter(sys.stderr)  # stdout carries the answer alone (a table or one JSON document)
    scanner, clients = Scanner(docker, repo.work / "sbom"), registries()
    scans = []
    for subject in subjects:
        scan = sbom_of(scanner, subject.reference, clients)
        progress.say(f"    {subject.label}: {len(scan.sbom.components)} packages ({_how(scan)})")
        scans.append((subject, scan))
    if args.find:
        return _find(args.find, scans, services, args.json)
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        for subject, scan in scans:
            (output / _file_name(subject.label)).write_bytes(scan.sbom.document)
    if args.json:
        print(json.dumps({"sboms": [_as_json(subject, scan) for subject, scan in scans]}, indent=2))
    elif len(scans) == 1 and output is None:
        print_table(_components(scans[0][1]))
        print(f"{scans[0][0].label}: {len(scans[0][1].sbom.components)} packages, {scans[0][1].sbom.tool}")
    else:
        print_table(_summary(scans))
    if output is not None:
        progress.say(f"sbom: {count(len(scans), 'CycloneDX file')} written to {output}")
    return 0


def _as_json(subject: Subject, scan: Scan) -> dict[str, object]:
    return {
        "name": subject.label,
        "image": subject.reference,
        "image_id": scan.sbom.image_id,
        "digest": scan.sbom.digest,
        "source": scan.source,
        "sbom": json.loads(scan.sbom.document),
    }


def _find(package: str, scans: list[tuple[Subject, Scan]], services: bool, as_json: bool) -> int:
    """Exit 1 when none of the images has the package (the table still lists where it is not)."""
    result = find(package, [Holder(subject.label, subject.reference, scan.sbom) for subject, scan in scans])
    if as_json:
        found = [
            {"name": hit.label, "image": hit.image, "package": hit.component.name, "type": hit.component.kind,
             "version": hit.component.version, "licences": list(hit.component.licences), "purl": hit.component.purl}
            for hit in result.found
        ]  # fmt: skip
        absent = [{"name": label, "image": image} for label, image in result.absent]
        print(json.dumps({"package": package, "found": found, "absent": absent}, indent=2))
    else:
        table = result.table()
        if not services:
            table[0] = ("IMAGE", "REFERENCE", *table[0][2:])
        print_table(table)
        holders = len({hit.label for hit in result.found})
        what = "services" if services else "images"
        print(f"{package}: in {holders} of {len(scans)} {what}")
    return 0 if result.found else 1


def register(command: Command) -> None:
    cmd = command("sbom", cmd_sbom, "the SBOM (CycloneDX, by syft) of images, or of the services of an environment")
    cmd.add_argument(
        "names", nargs="*", metavar="IMAGE|ENV",
        help="images (catalog, python, os, ...) or references, or one environment; none: every image of this commit",
    )  # fmt: skip
    cmd.add_argument("--output", type=Path, metavar="DIR", help="write one CycloneDX JSON file per image into DIR")
    cmd.add_argument("--find", metavar="PACKAGE", help="which images contain PACKAGE, at which version (exit 1: none)")
    cmd.add_argument("--json", action="store_true", help="print one JSON document (docs/sbom.md)")
