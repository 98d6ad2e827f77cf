"""Python dependencies of a service: hash-locked, resolved on the host, installed offline in the image.

pip cannot reach PyPI from inside a container on every machine (TLS-intercepting proxies), and
offline installs are hermetic anyway: the host downloads exactly the locked files (hashes checked)
into .lmsops/wheelhouse/<service>/, which the image's build stage installs with --no-index.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from lmsops.core import proc
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.versions import load_versions, python_minor, python_of

LOCK = "requirements.lock"
INPUT = "requirements.in"
DEV_LOCK = "requirements-dev.lock"
DEV_INPUT = "requirements-dev.in"

# The runtime images are Debian, x86_64, CPython of the python base (versions.yaml: "3.11-1" -> 3.11):
# download wheels for that target, whatever the host is. glibc 2.36 (bookworm) and newer run them all.
PLATFORMS = ["manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def target_args(python: str) -> list[str]:
    """pip download's target for CPython `python` ('3.13'): its ABI, the stable ABI, pure wheels."""
    abi = "cp" + python.replace(".", "")
    args = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    args += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;]+)\s*(?:;(?P<marker>.*?))?(?=\s--hash|\s*$)"
)


def target_markers(python: str) -> dict[str, str]:
    """The environment markers of that target: a universal lock also lists, e.g., Windows-only wheels.
    The patch level is not declared anywhere; .0 is the lowest the minor can be."""
    return {
        "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64",
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "python_version": python, "python_full_version": f"{python}.0",
    }  # fmt: skip


@dataclass(frozen=True)
class Locked:
    name: str
    version: str
    hashes: frozenset[str]


def read_lock(path: Path, display: str, python: str | None = None) -> list[Locked]:
    """Requirements of a lock file; each must be pinned with == and carry at least one hash. Entries whose
    marker excludes the image (CPython `python`, default: its repository's python base) are left out."""
    markers: dict[str, str] = {}  # read from versions.yaml when the first marker needs it
    entries: list[Locked] = []
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _REQUIREMENT.match(line)
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        if not match or not hashes:
            raise ConfigError(
                f"{display}: entry {line.split()[0]!r} is not pinned with == and --hash; "
                "regenerate the lock with `nox -s lock`"
            )
        marker = (match["marker"] or "").strip()
        if marker and not markers:
            markers = target_markers(python or python_of(path))
        if marker and not _applies(marker, markers, f"{display}: entry {match['name']}=={match['version']}"):
            continue  # not installed on the image's platform
        entries.append(Locked(match["name"].lower(), match["version"], hashes))
    return entries


def _applies(marker: str, markers: dict[str, str], where: str) -> bool:
    """Does the environment marker hold on the image's platform? A malformed one is the lock's error."""
    try:
        return Marker(marker).evaluate(markers)
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(
            f"{where}: the environment marker {marker!r} is not valid ({reason}); regenerate the lock with "
            "`nox -s lock` (or fix the marker by hand)"
        ) from exc


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_wheelhouse(repo: Repo, service: Path, report: Reporter) -> Path | None:
    """Fill .lmsops/wheelhouse/<service>/ with exactly the locked files; None if it has no lock."""
    lock = service / LOCK
    if not lock.is_file():
        return None
    return download_locked(repo, lock, repo.work / "wheelhouse" / service.name, report)


def download_locked(repo: Repo, lock: Path, target: Path, report: Reporter, python: str | None = None) -> Path:
    """Fill target with exactly the files of a lock for CPython `python` (default: the python base's)."""
    python = python or python_minor(load_versions(repo))
    wanted = read_lock(lock, repo.display(lock), python)
    service = lock.parent
    if _complete(target, wanted, python):
        return target
    cache = repo.work / "wheel-cache"
    cache.mkdir(parents=True, exist_ok=True)
    by_hash = _cached(cache, python)
    # The cache is shared by every service's lock: a new service stamped from the template locks the same
    # versions as the others, and pip would ask the package index again for files already here (~2 s of
    # CPU per lock, and the network).
    if not all(entry.hashes & by_hash.keys() for entry in wanted):
        report.say(f"    {service.name}: downloading {len(wanted)} locked wheels into the wheelhouse")
        proc.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
             *target_args(python), "--dest", str(cache), "--requirement", str(lock)],
            hint=f"pip could not fetch the wheels of {repo.display(lock)}; is the package index reachable?",
        )  # fmt: skip
        by_hash = _cached(cache, python)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for entry in wanted:
        found = next((by_hash[h] for h in entry.hashes if h in by_hash), None)
        if found is None:
            wheel = f"{entry.name}=={entry.version}"
            raise ConfigError(f"{repo.display(lock)}: no wheel of {wheel} for Linux x86_64 CPython {python}")
        os.link(found, target / found.name)
    return target


def share_wheel_cache(origin: Repo, clone: Repo) -> None:
    """Give a scratch clone the wheels its origin already fetched (hard links; every file is hash-checked
    on use): its builds then take them from there instead of asking the package index again."""
    source = origin.work / "wheel-cache"
    if not source.is_dir():
        return
    cache = clone.work / "wheel-cache"
    cache.mkdir(parents=True, exist_ok=True)
    for wheel in source.iterdir():
        if wheel.is_file() and not (cache / wheel.name).exists():
            try:
                os.link(wheel, cache / wheel.name)
            except OSError:  # another filesystem
                shutil.copyfile(wheel, cache / wheel.name)


def _cached(cache: Path, python: str) -> dict[str, Path]:
    """sha256 -> file of the cache. A universal lock lists the hashes of every wheel of a version (cp311
    and cp313 alike), and the cache is shared: only a file the image's interpreter can install counts."""
    return {_sha256(p): p for p in cache.iterdir() if p.is_file() and installable(p.name, python)}


def installable(filename: str, python: str) -> bool:
    """Can CPython `python` on the image's platform install this wheel (by its tags)?"""
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return not tags.isdisjoint(_supported_tags(python))


@functools.cache
def _supported_tags(python: str) -> frozenset[Tag]:
    version = tuple(int(part) for part in python.split("."))
    abi = "cp" + python.replace(".", "")
    # pip's own set for that target: glibc 2.36 and older manylinux tags (bookworm's glibc is the oldest).
    platforms = [*(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)), "manylinux2014_x86_64",
                 "manylinux2010_x86_64", "manylinux1_x86_64"]  # fmt: skip
    return frozenset([*cpython_tags(version, [abi], platforms), *compatible_tags(version, abi, platforms)])


def _complete(target: Path, wanted: list[Locked], python: str) -> bool:
    if not target.is_dir():
        return False
    if not all(installable(p.name, python) for p in target.iterdir() if p.is_file()):
        return False  # a wheelhouse of another interpreter (before a major upgrade)
    present = {_sha256(p) for p in target.iterdir() if p.is_file()}
    return len(present) == len(wanted) and all(entry.hashes & present for entry in wanted)
