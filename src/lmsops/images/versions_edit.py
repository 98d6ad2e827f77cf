"""Changing base-images/versions.yaml as a person would: one line at a time, comments kept.

The file is the single source of truth and people read it, so it is edited in place rather than
re-serialised. Every edit is checked by loading the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.yamlfile import format_validation_error, parse_yaml
from lmsops.images.versions import OS_NAME, Versions, load_versions

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_-]+):(?P<rest>.*)$")


@dataclass(frozen=True)
class BaseChange:
    """What to set for one base: a new version, and (when given) its extra Debian packages."""

    name: str
    version: str
    packages: list[str] | None = None


@dataclass(frozen=True)
class OsChange:
    """A move of the OS root to another Debian suite (a major upgrade): every key of the os entry.
    digest None: the new suite's registry digest is not known here (no registry), written as null."""

    suite: str
    reference: str
    version: str
    digest: str | None
    mirror: str | None = None  # None: the mirror stays


NOT_PINNED = "null  # not pinned yet: bootstrapped from Debian packages until the registry digest is pinned here"


def next_version(version: str) -> str:
    """The version with its trailing build number raised: 3.11-1 -> 3.11-2 (a refresh)."""
    match = re.match(r"^(?P<head>.*?)(?P<number>\d+)$", version)
    if not match:
        return f"{version}-1"
    return f"{match['head']}{int(match['number']) + 1}"


def check(repo: Repo, changes: list[BaseChange], os_change: OsChange | None = None) -> Versions:
    """What versions.yaml would declare with the changes, validated in memory: a bad version or
    package is refused before anything is built or written."""
    path = repo.versions_file
    lines = _changed(path.read_text(encoding="utf-8").splitlines(keepends=True), changes, os_change)
    data = parse_yaml("".join(lines))
    try:
        return Versions.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(repo.display(path), exc, Versions)) from exc


def apply(repo: Repo, changes: list[BaseChange], os_change: OsChange | None = None) -> Versions:
    """Write the changes into versions.yaml and return what it now declares; nothing is written on error."""
    path = repo.versions_file
    original = path.read_text(encoding="utf-8")
    path.write_text("".join(_changed(original.splitlines(keepends=True), changes, os_change)), encoding="utf-8")
    try:
        versions = load_versions(repo)
    except ConfigError:
        path.write_text(original, encoding="utf-8")
        raise
    for change in changes:
        declared = versions.version_of(change.name)
        packages = versions.images[change.name].packages if change.name != OS_NAME else None
        if declared != change.version or (change.packages is not None and packages != change.packages):
            path.write_text(original, encoding="utf-8")
            raise ConfigError(f"base-images/versions.yaml: could not set {change.name} to {change.version}")
    if os_change is not None:
        os_root = versions.os
        moved = (os_root.suite, os_root.reference, os_root.version, os_root.digest, os_root.mirror)
        wanted = (os_change.suite, os_change.reference, os_change.version, os_change.digest)
        if moved != (*wanted, os_change.mirror or os_root.mirror):
            path.write_text(original, encoding="utf-8")
            raise ConfigError(f"base-images/versions.yaml: could not move the os entry to {os_change.suite}")
    return versions


def _changed(lines: list[str], changes: list[BaseChange], os_change: OsChange | None) -> list[str]:
    for change in changes:
        lines = _set_entry(lines, change)
    if os_change is not None:
        start, end = _block(lines, ["os"])
        indent = _child_indent(lines, start, end)
        digest = os_change.digest or NOT_PINNED
        for key, value in (
            ("reference", os_change.reference), ("digest", digest),
            ("version", f'"{os_change.version}"'), ("suite", os_change.suite),
            *([("mirror", os_change.mirror)] if os_change.mirror else []),
        ):  # fmt: skip
            lines = _set_key(lines, start, end, indent, key, value)
            start, end = _block(lines, ["os"])
    return lines


def _set_entry(lines: list[str], change: BaseChange) -> list[str]:
    if change.name == OS_NAME:
        start, end = _block(lines, ["os"])
    else:
        start, end = _block(lines, ["images", change.name])
    indent = _child_indent(lines, start, end)
    lines = _set_key(lines, start, end, indent, "version", f'"{change.version}"')
    if change.packages is not None:
        start, end = _block(lines, ["images", change.name])
        value = "[" + ", ".join(change.packages) + "]"
        lines = _set_key(lines, start, end, indent, "packages", value)
    return lines


def _block(lines: list[str], path: list[str]) -> tuple[int, int]:
    """The line range (start: the key's line, end: exclusive) of a nested mapping key."""
    start, end, indent = -1, len(lines), -1
    for key in path:
        found = -1
        for number in range(start + 1, end):
            match = _KEY.match(lines[number].rstrip("\n"))
            if match and match["key"] == key and len(match["indent"]) > indent:
                found = number
                break
        if found < 0:
            where = ".".join(path)
            raise ConfigError(f"base-images/versions.yaml: no entry {where}; add it first")
        indent = len(_KEY.match(lines[found].rstrip("\n"))["indent"])  # type: ignore[index]
        start, end = found, _block_end(lines, found, indent)
    return start, end


def _block_end(lines: list[str], start: int, indent: int) -> int:
    for number in range(start + 1, len(lines)):
        text = lines[number]
        if text.strip() and not text.lstrip().startswith("#") and len(text) - len(text.lstrip(" ")) <= indent:
            return number
    return len(lines)


def _child_indent(lines: list[str], start: int, end: int) -> str:
    for number in range(start + 1, end):
        match = _KEY.match(lines[number].rstrip("\n"))
        if match:
            return match["indent"]
    return " " * (len(lines[start]) - len(lines[start].lstrip(" ")) + 2)


def _set_key(lines: list[str], start: int, end: int, indent: str, key: str, value: str) -> list[str]:
    for number in range(start + 1, end):
        match = _KEY.match(lines[number].rstrip("\n"))
        if match and match["key"] == key and match["indent"] == indent:
            return [*lines[:number], f"{indent}{key}: {value}\n", *lines[number + 1 :]]
    insert_at = start + 1  # a new key goes right after the version line (or first in the block)
    for number in range(start + 1, end):
        match = _KEY.match(lines[number].rstrip("\n"))
        if match and match["key"] == "version" and match["indent"] == indent:
            insert_at = number + 1
    return [*lines[:insert_at], f"{indent}{key}: {value}\n", *lines[insert_at:]]
