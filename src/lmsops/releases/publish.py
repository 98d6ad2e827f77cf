"""`nox -s publish`: push the images of this commit to a registry and record their digests.

An image is built once (`build`, up to date when nothing changed), tagged
`<registry>/<namespace>/<name>:<tag>` and pushed; the registry's digest is recorded in
.lmsops/published/<registry>.json, keyed by the image's immutable local reference. A deploy to an
environment with a registry runs exactly those digests (`<registry>/<namespace>/<name>@sha256:...`).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from lmsops.core.errors import ConfigError
from lmsops.core.filelock import exclusive
from lmsops.core.paths import Repo
from lmsops.core.progress import seconds
from lmsops.environments.stack import compose_files, image_variable
from lmsops.images.context import Context
from lmsops.images.plan import PlannedImage
from lmsops.releases.registry import IMAGE as REGISTRY_IMAGE
from lmsops.releases.registry import registry_up


def record_path(repo: Repo, address: str) -> Path:
    return repo.work / "published" / f"{address.replace(':', '_').replace('/', '_')}.json"


def load_record(repo: Repo, address: str) -> dict[str, str]:
    path = record_path(repo, address)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{repo.display(path)}: not valid JSON ({exc}); delete it and run `nox -s publish`") from exc
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def deployed_images(repo: Repo, planned: list[PlannedImage]) -> set[str]:
    """The images the Compose files and overlays run (`${LMS_<NAME>_IMAGE...}`): what a deploy needs in
    its registry. Bases that only serve to build (python, python-build) and the tools' own images are not
    among them; an image missing here would stop the deploy at resolve, naming it, before any change."""
    files = [*compose_files(repo), *sorted((repo.root / "stacks").glob("*.yaml"))]
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    return {image.name for image in planned if re.search(r"\$\{" + image_variable(image.name) + r"\b", text)}


def publish(ctx: Context, address: str, only: set[str] | None = None) -> dict[str, str]:
    """Build (if needed), push the images of this commit (every one, or `only` these) to address;
    return reference -> digest reference."""
    started = time.monotonic()
    ctx.build()
    # One publisher per registry at a time on this machine: two pushes of the same image at once make
    # the registry refuse one ("digest invalid: manifest blob unknown", seen with staging and production
    # deployed side by side), and the record is read, extended and written back.
    lock = ctx.repo.work / "locks" / f"publish-{record_path(ctx.repo, address).stem}.lock"
    waiting = lambda: ctx.report.say(f"    waiting for another publish to {address} on this machine ...")  # noqa: E731
    with exclusive(lock, on_wait=waiting):
        return _publish_locked(ctx, address, only, started)


def _publish_locked(ctx: Context, address: str, only: set[str] | None, started: float) -> dict[str, str]:
    repo, docker, report = ctx.repo, ctx.docker, ctx.report
    registry_up(ctx, address)
    record = load_record(repo, address)
    published: dict[str, str] = {}
    for image in ctx.plan():
        if image.name == REGISTRY_IMAGE or (only is not None and image.name not in only):
            continue  # the registry's own image is infrastructure; `only`: what this deploy runs
        pushed = time.monotonic()
        remote = f"{address}/{image.reference}"
        docker.tag(image.reference, remote)
        digest = docker.push(remote)
        repository = remote.rsplit(":", 1)[0]
        published[image.reference] = f"{repository}@{digest}"
        report.say(f"    {image.name}: {repository}@{digest[:19]}... ({seconds(pushed)})")
    record |= published
    path = record_path(repo, address)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole and renamed into place: concurrent publishers (parallel test workers, two shells)
    # never leave a torn file behind.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
    report.say(f"publish: {len(published)} image(s) in {address}, digests in {repo.display(path)} ({seconds(started)})")
    return published


def digest_reference(repo: Repo, address: str, reference: str) -> str:
    """The published digest reference of a local image reference; an unpublished one is an error."""
    found = load_record(repo, address).get(reference)
    if found is None:
        raise ConfigError(
            f"{reference} is not published to {address} (deploys from a registry run images by digest only); "
            "run `nox -s publish`"
        )
    return found
