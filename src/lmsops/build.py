"""Building every base and service image in dependency order, and only when inputs changed.

An image's identity is the hash of its inputs (its folder, its Dockerfile, its version and
the ids of the bases it builds FROM), stored as a label. When the tagged image already
carries that hash, nothing is built and lmsops says "up to date".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lmsops.bootstrap import INPUTS_LABEL, Mode, bootstrap
from lmsops.docker import Docker
from lmsops.errors import LmsopsError
from lmsops.gitinfo import SourceInfo, source_info
from lmsops.hashing import inputs_hash, tree_files
from lmsops.images import ImageSpec, discover, select
from lmsops.paths import Repo
from lmsops.progress import Reporter, megabytes, seconds
from lmsops.versions import Versions, build_arg_for, load_versions
from lmsops.wheelhouse import ensure_wheelhouse

KIND_LABEL = "org.lmsops.kind"
OCI = "org.opencontainers.image"


@dataclass(frozen=True)
class Built:
    """What happened to one image."""

    name: str
    reference: str
    image_id: str
    built: bool
    seconds: float
    size: int


class BuildError(LmsopsError):
    """An image failed to build; names the image and the Dockerfile line docker reported."""


def reference_for(spec: ImageSpec, versions: Versions, inputs: str) -> str:
    """Bases keep their versioned name; services are tagged by version and inputs hash."""
    if spec.kind == "base":
        return versions.reference(spec.name)
    return f"{versions.namespace}/{spec.name}:{spec.version}-{inputs[:12]}"


def build(
    repo: Repo, docker: Docker, report: Reporter, names: list[str] | None = None, mode: Mode = "auto"
) -> list[Built]:
    """Build the named images (default: all) and the bases they need."""
    versions = load_versions(repo)
    specs = select(discover(repo, versions), names or [])
    docker.require()
    started = time.monotonic()
    os_root = bootstrap(repo, docker, versions, mode, report)
    image_ids = {"os": os_root.image_id}
    references = {"os": os_root.reference}
    results = []
    for spec in specs:
        result = _build_one(repo, docker, versions, spec, image_ids, references, report)
        image_ids[spec.name] = result.image_id
        references[spec.name] = result.reference
        results.append(result)
    done = sum(1 for r in results if r.built)
    report.say(f"build: {len(results)} image(s), {done} built, {len(results) - done} up to date, in {seconds(started)}")
    return results


def _build_one(
    repo: Repo,
    docker: Docker,
    versions: Versions,
    spec: ImageSpec,
    image_ids: dict[str, str],
    references: dict[str, str],
    report: Reporter,
) -> Built:
    build_args = {build_arg_for(parent): references[parent] for parent in spec.parents}
    files = [(repo.display(p), p) for folder in spec.inputs for p in tree_files(folder)]
    info = source_info(repo.root, list(spec.inputs))
    identity = {f"parent:{p}": image_ids[p] for p in spec.parents} | {"version": spec.version}
    inputs = inputs_hash(files, identity | build_args | {"revision": info.revision})
    reference = reference_for(spec, versions, inputs)
    started = time.monotonic()
    if docker.image_labels(reference).get(INPUTS_LABEL) == inputs:
        image_id = docker.image_id(reference) or ""
        report.say(f"    {reference}: up to date")
        return Built(spec.name, reference, image_id, False, 0.0, docker.image_size(reference))
    report.say(f"==> building {reference} ({spec.kind}, FROM {references[spec.runtime_parent]}) ...")
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = _labels(spec, info, created, inputs, references, image_ids)
    if spec.kind == "service":
        ensure_wheelhouse(repo, spec.dockerfile.parent, report)
        # Baked into the image for its /version endpoint; not part of the identity (time changes).
        build_args |= {"BUILD_VERSION": spec.version, "BUILD_REVISION": info.revision, "BUILD_TIME": created}
    iidfile = repo.work / "iid" / f"{spec.name}.iid"
    iidfile.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []

    def on_line(line: str) -> None:
        tail.append(line)
        del tail[:-25]
        report.detail(line)

    try:
        image_id = docker.build(
            context=spec.context,
            dockerfile=spec.dockerfile,
            tags=[reference],
            build_args=build_args,
            labels=labels,
            iidfile=iidfile,
            on_line=on_line,
        )
    except LmsopsError as exc:
        report.say(f"<== {reference}: FAILED after {seconds(started)}")
        shown = "\n".join("    " + line for line in tail)
        raise BuildError(f"building {spec.name} ({repo.display(spec.dockerfile)}) failed:\n{shown}") from exc
    size = docker.image_size(reference)
    elapsed = time.monotonic() - started
    report.say(f"<== {reference}: built in {elapsed:.1f} s ({megabytes(size)})")
    return Built(spec.name, reference, image_id, True, elapsed, size)


def _labels(
    spec: ImageSpec,
    info: SourceInfo,
    created: str,
    inputs: str,
    references: dict[str, str],
    image_ids: dict[str, str],
) -> dict[str, str]:
    parent = spec.runtime_parent
    return {
        f"{OCI}.title": spec.name,
        f"{OCI}.description": spec.description or f"lmsops {spec.kind} image {spec.name}",
        f"{OCI}.version": spec.version,
        f"{OCI}.revision": info.revision,
        f"{OCI}.source": info.source,
        f"{OCI}.created": created,
        f"{OCI}.base.name": references[parent],
        f"{OCI}.base.digest": image_ids[parent],
        INPUTS_LABEL: inputs,
        KIND_LABEL: spec.kind,
    }
