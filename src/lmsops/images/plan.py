"""What every image will be called, computed from the files alone (no Docker needed).

An image's identity is a hash over its inputs, its version, its revision and the identities of
the bases it builds FROM (a Merkle chain down to the OS root's inputs). Its tag follows from that,
so `nox -s config` can name the exact images a deploy will run before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmsops.core.gitinfo import SourceInfo, source_info
from lmsops.core.hashing import inputs_hash, tree_files
from lmsops.core.paths import Repo
from lmsops.images.bootstrap import os_inputs
from lmsops.images.discovery import ImageSpec, discover, select
from lmsops.images.versions import EXTRA_PACKAGES_ARG, OS_NAME, Versions, build_arg_for


@dataclass(frozen=True)
class PlannedImage:
    spec: ImageSpec
    identity: str
    reference: str
    source: SourceInfo
    build_args: dict[str, str]  # the base references each FROM needs (and a base's EXTRA_PACKAGES)
    alias: str | None = None  # a version-only tag for bases (lmsops/python:3.11-1)

    @property
    def name(self) -> str:
        return self.spec.name


def reference_for(spec: ImageSpec, versions: Versions, identity: str) -> str:
    """An immutable tag: version and identity. A deploy never names a tag that could move."""
    return f"{versions.namespace}/{spec.name}:{spec.version}-{identity[:12]}"


def alias_for(spec: ImageSpec, versions: Versions) -> str | None:
    """Bases are also tagged by their version alone (lmsops/python:3.11-1), for people; never deployed."""
    return versions.reference(spec.name) if spec.kind == "base" else None


def plan_images(repo: Repo, versions: Versions, names: list[str] | None = None) -> list[PlannedImage]:
    """Every image (or the named ones and their bases) in build order, with identity and reference."""
    identities = {OS_NAME: os_inputs(repo, versions)}
    references = {OS_NAME: versions.os.reference}
    planned: list[PlannedImage] = []
    for spec in select(discover(repo, versions), names or []):
        build_args = {build_arg_for(parent): references[parent] for parent in spec.parents}
        if spec.kind == "base" and versions.images[spec.name].packages:
            build_args[EXTRA_PACKAGES_ARG] = " ".join(versions.images[spec.name].packages)
        files = [(repo.display(p), p) for folder in spec.inputs for p in tree_files(folder)]
        info = source_info(repo.root, list(spec.inputs))
        values = {f"parent:{p}": identities[p] for p in spec.parents} | build_args
        identity = inputs_hash(files, values | {"version": spec.version, "revision": info.revision})
        reference = reference_for(spec, versions, identity)
        identities[spec.name], references[spec.name] = identity, reference
        planned.append(PlannedImage(spec, identity, reference, info, build_args, alias_for(spec, versions)))
    return planned
