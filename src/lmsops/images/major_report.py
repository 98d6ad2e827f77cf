"""The report of a major upgrade (.lmsops/reports/major-SUITE-<time>.md): what moved, how long each
phase took, how big the images are before and after, which locks changed and how many pins moved,
and the test results. Written whether it succeeded or not: a failed upgrade's report says where."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lmsops.core.paths import Repo
from lmsops.core.progress import megabytes
from lmsops.images.facts import ImageFacts
from lmsops.images.upgrade import sbom_difference
from lmsops.images.versions import OS_NAME, Versions, postgres_major, python_minor
from lmsops.supply.syft import Scanner

if TYPE_CHECKING:
    from lmsops.images.major import MajorResult

# One pinned entry of a lock: `name==version` with its marker, at the start of a line.
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]*))?"
)
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class PinChanges:
    pins: int  # entries after
    moved: int  # same package and marker, another version
    added: int  # packages the lock did not have
    removed: int  # packages it no longer has
    remarked: int  # packages kept whose environment markers changed (a universal lock for another Python)
    hashes_added: int
    hashes_removed: int


def pins(text: str) -> dict[tuple[str, str], str]:
    """(normalised name, marker) -> version of every entry of a lock's text."""
    found: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            name = re.sub(r"[-_.]+", "-", match["name"]).lower()
            found[(name, (match["marker"] or "").strip())] = match["version"]
    return found


def pin_changes(before: str, after: str) -> PinChanges:
    old, new = pins(before), pins(after)
    old_hashes, new_hashes = set(_HASH.findall(before)), set(_HASH.findall(after))
    old_names, new_names = {name for name, _ in old}, {name for name, _ in new}
    unmatched = {name for name, _ in old.keys() ^ new.keys()}
    return PinChanges(
        pins=len(new),
        moved=sum(1 for key, version in new.items() if key in old and old[key] != version),
        added=len(new_names - old_names),
        removed=len(old_names - new_names),
        remarked=len(unmatched & old_names & new_names),
        hashes_added=len(new_hashes - old_hashes),
        hashes_removed=len(old_hashes - new_hashes),
    )


def write_report(repo: Repo, result: MajorResult, kept: bool, scanner: Scanner | None = None) -> Path:
    """The report; with a scanner (a run that kept the upgrade), each image's SBOM difference too."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    old, new, plan = result.old, result.new, result.plan
    path = repo.work / "reports" / f"major-{plan.os_change.suite}-{stamp}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# Major upgrade: Debian {old.os.suite} -> {plan.os_change.suite} ({stamp})", ""]
    lines += _summary(old, new, plan.release)
    total = sum(duration for _, duration in result.phases)
    lines += ["", "## Phases", "", "| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {duration:.0f} |" for name, duration in result.phases]
    lines += [f"| **total** | **{total:.0f}** |"]
    lines += ["", "## Images", "", "| image | reference (old -> new) | size (old -> new) |", "|---|---|---|"]
    for name, (before_ref, after_ref) in result.references.items():
        size = f"{_size(result.before.get(name))} -> {_size(result.after.get(name))}"
        lines.append(f"| {name} | `{before_ref}` -> `{after_ref}` | {size} |")
    if scanner is not None:
        lines += ["", "## SBOM differences (syft, docs/sbom.md)", ""]
        for name in result.references:
            old_facts, new_facts = result.before.get(name), result.after.get(name)
            if new_facts is not None:
                lines.append(f"- {name}: {sbom_difference(scanner, old_facts, new_facts)}")
    lines += ["", "## Locks", "", "| lock | pins | moved | added | removed | markers changed | hashes +/- |"]
    lines.append("|---|---|---|---|---|---|---|")
    for lock, (before, after) in result.locks.items():
        c = pin_changes(before, after)
        counts = (
            f"{c.pins} | {c.moved} | {c.added} | {c.removed} | {c.remarked} | +{c.hashes_added} / -{c.hashes_removed}"
        )
        lines.append(f"| {repo.display(lock)} | {counts} |")
    if not result.locks:
        lines.append("| (not re-locked) | | | | | | |")
    lines += ["", "## Tests", ""]
    lines += [f"- {test.name}: {'passed' if test.passed else 'FAILED'} ({test.summary})" for test in result.tests]
    if not result.tests:
        lines.append("- not run")
    if result.failure:
        lines += ["", f"Failed: {result.failure}"]
    lines += [
        "",
        "Every file keeps the upgrade." if kept else "Every file it changed was put back: the upgrade failed.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _summary(old: Versions, new: Versions | None, release: str) -> list[str]:
    if new is None:
        return ["- versions.yaml not changed"]
    digest = new.os.digest or "not pinned (null): bootstrapped from Debian packages until someone pins it"
    return [
        f"- Debian: {old.os.suite} ({old.os.reference}, {old.os.version}) -> {new.os.suite} "
        f"({new.os.reference}, {new.os.version}; release {release} on the mirror)",
        f"- os.digest: {digest}",
        f"- Python: {python_minor(old)} -> {python_minor(new)}",
        f"- PostgreSQL: {postgres_major(old)} -> {postgres_major(new)} (a data directory of the old major is "
        "refused at start: back up, `down --volumes`, deploy, restore; docs/base-images.md)",
        *[f"- `{name}`: {old.version_of(name)} -> {new.version_of(name)}" for name in new.images if name in old.images],
        f"- `{OS_NAME}`: {old.version_of(OS_NAME)} -> {new.version_of(OS_NAME)}",
    ]


def _size(facts: ImageFacts | None) -> str:
    return megabytes(facts.size) if facts else "-"
