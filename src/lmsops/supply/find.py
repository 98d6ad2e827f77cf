"""Which images (or an environment's services) contain a package, and at which version.

The answer is complete: every image asked about is either a row (per version found) or listed as
not containing the package, so "not in gateway" is said rather than left to be inferred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lmsops.supply.cyclonedx import Component, Sbom, normalise


@dataclass(frozen=True)
class Holder:
    """One image asked about: its label (a service, or the image's name) and reference."""

    label: str
    image: str
    sbom: Sbom


@dataclass(frozen=True)
class Found:
    label: str
    image: str
    component: Component


@dataclass(frozen=True)
class FindResult:
    package: str
    found: list[Found]
    absent: list[tuple[str, str]]  # (label, image) of the images without it

    def table(self) -> list[tuple[str, ...]]:
        """Header, one row per package found, then one per image without it."""
        rows: list[tuple[str, ...]] = [("SERVICE", "IMAGE", "PACKAGE", "TYPE", "VERSION", "LICENCES")]
        for hit in self.found:
            c = hit.component
            rows.append((hit.label, hit.image, c.name, c.kind, c.version, ", ".join(c.licences) or "-"))
        rows += [(label, image, self.package, "", "not present", "") for label, image in self.absent]
        return rows


def matches(query: str, component: Component) -> bool:
    """A package name in any type, compared as Python compares names (psycopg-binary is not psycopg)."""
    return normalise(component.name) == normalise(query)


def find(package: str, holders: Sequence[Holder]) -> FindResult:
    found: list[Found] = []
    absent: list[tuple[str, str]] = []
    for holder in holders:
        hits = sorted(
            (c for c in holder.sbom.components if matches(package, c)), key=lambda c: (c.kind, c.name, c.version)
        )
        found += [Found(holder.label, holder.image, component) for component in hits]
        if not hits:
            absent.append((holder.label, holder.image))
    return FindResult(package, found, absent)
