"""The OS root image: pulled by its pinned digest, or bootstrapped from Debian packages.

Both ways produce the same reference (versions.yaml `os.reference`), so no Dockerfile
changes between a machine that reaches a registry and one that does not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from lmsops.core import proc
from lmsops.core.docker import Docker, image_labels_of
from lmsops.core.errors import CommandError, ConfigError, PrerequisiteError
from lmsops.core.gitinfo import source_info
from lmsops.core.hashing import inputs_hash, tree_files
from lmsops.core.labels import OCI, REVISION
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, megabytes, seconds
from lmsops.images.versions import OS_NAME, Versions

INPUTS_LABEL = "org.lmsops.inputs"
ORIGIN_LABEL = "org.lmsops.os-origin"
Mode = Literal["auto", "pull", "offline"]

# Removed after debootstrap, as the official slim image does; dpkg-slim.cfg keeps them out later.
_SLIM_PATHS = [
    "var/cache/apt/archives",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/groff",
    "var/log",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/diversions-old",
]
_KEEP_EMPTY = ["var/cache/apt/archives/partial", "var/lib/apt/lists/partial", "var/log/apt"]


@dataclass(frozen=True)
class BootstrapResult:
    reference: str
    image_id: str
    origin: str  # "pulled" or "debootstrap"
    changed: bool


def os_inputs(repo: Repo, versions: Versions) -> str:
    """Hash of everything that decides the bootstrapped root: the os entry and base-images/os/."""
    folder = repo.base_images / OS_NAME
    files = [(repo.display(p), p) for p in tree_files(folder)] if folder.is_dir() else []
    return inputs_hash(files, versions.os.model_dump(mode="json"))


def bootstrap(repo: Repo, docker: Docker, versions: Versions, mode: Mode, report: Reporter) -> BootstrapResult:
    """Make sure the OS root exists; do nothing (and say so) when it already matches its inputs."""
    reference = versions.os.reference
    wanted = os_inputs(repo, versions)
    present = _present(docker, versions, wanted)
    if present is not None:
        report.say(f"    {reference}: up to date ({present[1]}, {present[0][:19]}), nothing to do")
        return BootstrapResult(reference, present[0], present[1], changed=False)
    if mode != "offline":
        pulled = _pull(docker, versions, report, required=mode == "pull")
        if pulled is not None:
            return pulled
    return _debootstrap(repo, docker, versions, wanted, report)


def _present(docker: Docker, versions: Versions, wanted: str) -> tuple[str, str] | None:
    doc = docker.image_inspect(versions.os.reference)
    if doc is None:
        return None
    if image_labels_of(doc).get(INPUTS_LABEL) == wanted:
        return str(doc["Id"]), "debootstrap"
    if versions.os.digest is None:
        return None  # not pinned yet: only a root bootstrapped from today's inputs is the declared one
    repo_name = versions.os.reference.rsplit(":", 1)[0]
    digests = doc.get("RepoDigests") or []
    pinned = [str(d) for d in digests if str(d).endswith(versions.os.digest)] if isinstance(digests, list) else []
    if any(d.split("@")[0].endswith(repo_name) for d in pinned):
        return str(doc["Id"]), "pulled"
    return None


def _pull(docker: Docker, versions: Versions, report: Reporter, required: bool) -> BootstrapResult | None:
    reference = versions.os.reference
    if versions.os.digest is None:
        # A tag alone is no pin: pulling it would make a root nobody reviewed. Say so and bootstrap.
        if required:
            raise ConfigError(
                "base-images/versions.yaml: os.digest is not pinned (null) so nothing can be pulled; "
                f"pin the registry digest of {reference}, or bootstrap with --offline"
            )
        report.say(f"    {reference}: os.digest not pinned yet; bootstrapping from Debian packages")
        return None
    pinned = f"{reference.rsplit(':', 1)[0]}@{versions.os.digest}"
    started = time.monotonic()
    report.say(f"==> pulling {pinned} ...")
    try:
        docker.pull(pinned)
    except CommandError as exc:
        if required:
            raise
        report.say(f"    no registry reachable ({_short(exc.output)}); bootstrapping from Debian packages")
        return None
    docker.tag(pinned, reference)
    image = docker.image_id(reference) or ""
    report.say(f"<== {reference}: pulled by digest in {seconds(started)}")
    return BootstrapResult(reference, image, "pulled", changed=True)


def _debootstrap(repo: Repo, docker: Docker, versions: Versions, wanted: str, report: Reporter) -> BootstrapResult:
    os_root = versions.os
    if os.geteuid() != 0:
        raise PrerequisiteError(
            "debootstrap needs root: run `nox -s bootstrap` as root, or on a machine with a registry"
        )
    if shutil.which("debootstrap") is None:
        raise PrerequisiteError("debootstrap is not installed: `apt-get install debootstrap` (Debian/Ubuntu)")
    rootfs = repo.work / f"rootfs-{os_root.suite}-{wanted[:12]}"
    started = time.monotonic()
    report.say(f"==> bootstrapping {os_root.reference} from Debian {os_root.suite} packages ({os_root.mirror}) ...")
    try:
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        proc.stream(
            ["debootstrap", "--variant=minbase", os_root.suite, str(rootfs), os_root.mirror],
            report.detail,
            hint="debootstrap needs the Debian mirror named in base-images/versions.yaml (os.mirror)",
        )
        _upgrade(repo, versions, rootfs, report)
        _slim(repo, rootfs)
        image = docker.import_rootfs(rootfs, os_root.reference, _import_changes(repo, versions, wanted))
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    size = docker.image_size(os_root.reference)
    report.say(f"<== {os_root.reference}: bootstrapped in {seconds(started)} ({megabytes(size)})")
    return BootstrapResult(os_root.reference, image, "debootstrap", changed=True)


def security_mirror(mirror: str) -> str:
    """Debian's security archive beside its mirror: .../debian -> .../debian-security."""
    return re.sub(r"/debian/?$", "/debian-security", mirror.rstrip("/"))


def _upgrade(repo: Repo, versions: Versions, rootfs: Path, report: Reporter) -> None:
    """debootstrap installs the suite as released: add -updates and -security, then install their fixes."""
    os_root = versions.os
    sources_file = repo.base_images / OS_NAME / "debian.sources"
    if not sources_file.is_file():
        raise ConfigError(f"{repo.display(sources_file)}: not found; it lists the suite, -updates and -security")
    lines = sources_file.read_text(encoding="utf-8").splitlines(keepends=True)
    template = "".join(line for line in lines if not line.startswith("#"))
    sources = template.format(mirror=os_root.mirror, suite=os_root.suite, security=security_mirror(os_root.mirror))
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(sources, encoding="utf-8")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update"], ["apt-get", "-y", "upgrade"], ["apt-get", "clean"]):
        proc.stream(["chroot", str(rootfs), *step], report.detail, env=env, hint="the OS root's security updates")
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)


def _slim(repo: Repo, rootfs: Path) -> None:
    """Drop what the official slim image drops; keep copyright files; install the slim configs."""
    copyrights = {p: p.read_bytes() for p in (rootfs / "usr/share/doc").glob("*/copyright") if p.is_file()}
    for rel in _SLIM_PATHS:
        target = rootfs / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    for rel in _KEEP_EMPTY:
        (rootfs / rel).mkdir(parents=True, exist_ok=True)
    for path, content in copyrights.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    config = repo.base_images / OS_NAME
    shutil.copyfile(config / "dpkg-slim.cfg", rootfs / "etc/dpkg/dpkg.cfg.d/slim")
    shutil.copyfile(config / "apt-slim.conf", rootfs / "etc/apt/apt.conf.d/docker-slim")
    # Docker provides these at run time; a baked-in copy would leak the build host's.
    for rel in ("etc/resolv.conf", "etc/hostname"):
        (rootfs / rel).unlink(missing_ok=True)
    (rootfs / "etc/machine-id").write_text("")


def _import_changes(repo: Repo, versions: Versions, wanted: str) -> list[str]:
    os_root = versions.os
    info = source_info(repo.root, [repo.versions_file, repo.base_images / OS_NAME])
    labels = {
        f"{OCI}.title": os_root.reference,
        f"{OCI}.description": f"Debian {os_root.suite} minbase, slimmed (bootstrapped by lmsops)",
        f"{OCI}.version": os_root.version,
        REVISION: info.revision,
        f"{OCI}.source": info.source,
        f"{OCI}.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        INPUTS_LABEL: wanted,
        ORIGIN_LABEL: "debootstrap",
    }
    label_args = " ".join(f"{key}={json.dumps(value)}" for key, value in sorted(labels.items()))
    return [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["bash"]',
        f"LABEL {label_args}",
    ]


def _short(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no output"
