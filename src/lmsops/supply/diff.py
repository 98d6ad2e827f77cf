"""What changed between two SBOMs of an image: packages added, removed, and at another version.

Packages are matched by type and normalised name (a deb and a Python package of the same name are
two packages); a name present at several versions at once (two copies of a library) is compared
as the set of its versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lmsops.supply.cyclonedx import Component


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    before: str  # "" when added
    after: str  # "" when removed

    def text(self) -> str:
        if not self.before:
            return f"+{self.name} {self.after}"
        if not self.after:
            return f"-{self.name} {self.before}"
        return f"{self.name} {self.before} -> {self.after}"


@dataclass(frozen=True)
class SbomDiff:
    added: list[Change]
    removed: list[Change]
    changed: list[Change]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        """'+a 1, -b 2, c 1 -> 2' (each group sorted by type and name), or 'none'."""
        return ", ".join(change.text() for change in [*self.added, *self.removed, *self.changed]) or "none"

    def counts(self) -> str:
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} at another version"


def _versions(components: Iterable[Component]) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, normalised name) -> (the name as written, its versions joined)."""
    grouped: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for component in components:
        _, versions = grouped.setdefault(component.key, (component.name, []))
        if component.version not in versions:
            versions.append(component.version)
    return {key: (name, ", ".join(sorted(versions))) for key, (name, versions) in grouped.items()}


def sbom_diff(before: Iterable[Component], after: Iterable[Component]) -> SbomDiff:
    old, new = _versions(before), _versions(after)
    added = [Change(key[0], new[key][0], "", new[key][1]) for key in sorted(set(new) - set(old))]
    removed = [Change(key[0], old[key][0], old[key][1], "") for key in sorted(set(old) - set(new))]
    changed = [
        Change(key[0], new[key][0], old[key][1], new[key][1])
        for key in sorted(set(old) & set(new))
        if old[key][1] != new[key][1]
    ]
    return SbomDiff(added, removed, changed)
