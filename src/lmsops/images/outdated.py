"""`nox -s outdated`: which images are built on an older base than versions.yaml declares, and
which base images have Debian updates (point releases, security fixes) waiting.

The first part reads image labels only (org.opencontainers.image.base.name names the exact base
build). The second asks Debian: one throwaway container from the OS root, on the default bridge
network, reads the suite, its -updates and its -security archive and compares every installed
package of every base (dpkg's own version comparison).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from lmsops.core.labels import OCI
from lmsops.core.paths import Repo
from lmsops.core.progress import count
from lmsops.core.table import table_lines
from lmsops.images.bootstrap import security_mirror
from lmsops.images.discovery import discover
from lmsops.images.facts import debian_packages
from lmsops.images.plan import PlannedImage, plan_images
from lmsops.images.versions import OS_NAME, Versions, load_versions

_IDENTITY_SUFFIX = re.compile(r"-[0-9a-f]{12}$")
# Reads "package installed-version" lines; prints "package installed candidate suite" for each
# package Debian has a newer version of.
_CANDIDATES = r"""
set -e
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
cat > /etc/apt/sources.list.d/lmsops-outdated.list <<EOF
deb $1 $2 main
deb $1 $2-updates main
deb $3 $2-security main
EOF
apt-get update -qq >/dev/null
cat > /tmp/installed
# One apt-cache call for every package; dpkg compares only where the version strings differ.
apt-cache policy $(cut -d' ' -f1 /tmp/installed) 2>/dev/null \
  | awk '/^[^ ].*:$/ {sub(/:$/, ""); pkg = $0} $1 == "Candidate:" {print pkg, $2}' > /tmp/candidates
while read -r pkg inst; do
  cand=$(awk -v p="$pkg" '$1 == p {print $2; exit}' /tmp/candidates)
  if [ -n "$cand" ] && [ "$cand" != "(none)" ] && [ "$cand" != "$inst" ] \
     && dpkg --compare-versions "$cand" gt "$inst"; then
    suite=$(apt-cache madison "$pkg" | awk -v v="$cand" '$3 == v {print $6; exit}')
    echo "$pkg $inst $cand $suite"
  fi
done < /tmp/installed
"""


@dataclass
class ImageStatus:
    name: str
    base: str  # the base it should build on, e.g. python
    declared: str  # the base's version in versions.yaml
    built_on: str  # the base version the newest local image was built on ("-" when not built)
    reference: str
    status: str

    @property
    def outdated(self) -> bool:
        return self.status != "current"


@dataclass
class DebianUpdate:
    package: str
    installed: str
    candidate: str
    suite: str

    @property
    def security(self) -> bool:
        return self.suite.endswith("-security") or "-security/" in self.suite


@dataclass
class OutdatedReport:
    images: list[ImageStatus]
    updates: dict[str, list[DebianUpdate]] = field(default_factory=dict)
    debian_checked: bool = False

    @property
    def action_needed(self) -> bool:
        return any(image.outdated for image in self.images) or any(self.updates.values())


def outdated(repo: Repo, docker: Docker, check_debian: bool = True) -> OutdatedReport:
    versions = load_versions(repo)
    planned = {image.name: image for image in plan_images(repo, versions)}
    statuses = []
    built_bases: dict[str, str] = {}  # base -> the image of it that is built: as declared, else the newest
    for spec in discover(repo, versions):
        parent = spec.runtime_parent
        declared = versions.version_of(parent)
        reference = planned[spec.name].reference if docker.image_id(planned[spec.name].reference) else ""
        reference = reference or _newest(docker, versions, spec.name)
        statuses.append(_status(docker, versions, spec.name, parent, declared, reference, planned))
        if spec.kind == "base" and reference:
            built_bases[spec.name] = reference
    report = OutdatedReport(statuses)
    if check_debian:
        report.updates = _debian_updates(docker, versions, built_bases)
        report.debian_checked = True
    return report


def _newest(docker: Docker, versions: Versions, name: str) -> str:
    tags = [tag for tag in docker.image_tags(f"{versions.namespace}/{name}") if _IDENTITY_SUFFIX.search(tag)]
    return tags[0] if tags else ""  # docker lists the newest first


def _status(
    docker: Docker,
    versions: Versions,
    name: str,
    parent: str,
    declared: str,
    reference: str,
    planned: dict[str, PlannedImage],
) -> ImageStatus:
    if not reference:
        return ImageStatus(name, parent, declared, "-", "-", "not built: nox -s build")
    base_name = docker.image_labels(reference).get(f"{OCI}.base.name", "")
    tag = base_name.rpartition(":")[2]
    built_on = versions.os.version if parent == OS_NAME else _IDENTITY_SUFFIX.sub("", tag)
    if parent != OS_NAME and built_on != declared:
        status = f"OUTDATED: built on {parent} {built_on}, versions.yaml declares {declared}: nox -s build"
    elif parent in planned and base_name != planned[parent].reference:
        status = f"OUTDATED: built on another build of {parent} {declared}: nox -s build"
    elif name in planned and reference != planned[name].reference:
        status = "OUTDATED: its own inputs changed since it was built: nox -s build"
    else:
        status = "current"
    return ImageStatus(name, parent, declared, built_on, reference, status)


def _debian_updates(docker: Docker, versions: Versions, built_bases: dict[str, str]) -> dict[str, list[DebianUpdate]]:
    """Per base image (and the OS root): installed packages with a newer version in Debian. A base is
    read from the image of it that is built (versions.yaml may declare one not built yet: reading that
    found no package and called the base up to date)."""
    images = {OS_NAME: versions.os.reference} | built_bases
    installed = {name: debian_packages(docker, reference) for name, reference in images.items()}
    wanted = sorted({f"{pkg} {version}" for packages in installed.values() for pkg, version in packages.items()})
    mirror = versions.os.mirror.rstrip("/")
    security = security_mirror(mirror)
    result = docker.run_once(
        versions.os.reference,
        entrypoint="sh",
        network="bridge",
        args=["-c", _CANDIDATES, "lmsops-outdated", mirror, versions.os.suite, security],
        input_bytes=("\n".join(wanted) + "\n").encode(),
    )
    if result.returncode != 0:
        raise CommandError(
            ["apt-get", "update"], result.returncode, result.output, f"cannot read {mirror} from a container"
        )
    newer = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            newer[(parts[0], parts[1])] = DebianUpdate(parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else "")
    return {
        name: [newer[(pkg, version)] for pkg, version in sorted(packages.items()) if (pkg, version) in newer]
        for name, packages in installed.items()
    }


def render(report: OutdatedReport) -> list[str]:
    rows = [("IMAGE", "BUILDS ON", "DECLARED", "BUILT ON", "STATUS")]
    rows += [(i.name, i.base, i.declared, i.built_on, i.status) for i in report.images]
    lines = table_lines(rows)
    if not report.debian_checked:
        lines.append("Debian updates: not checked (--no-debian)")
        return lines
    for name, updates in report.updates.items():
        if not updates:
            lines.append(f"{name}: Debian packages up to date")
            continue
        urgent = sum(1 for update in updates if update.security)
        lines.append(f"{name}: {count(len(updates), 'Debian update')}, {urgent} security: nox -s upgrade_base -- --all")
        lines += [
            f"    {u.package} {u.installed} -> {u.candidate} ({u.suite}{', security' if u.security else ''})"
            for u in updates
        ]
    return lines
