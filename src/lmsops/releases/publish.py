"""`nox -s publish`: the registry is the source of truth for built images.

Every image has a content tag that lmsops computes from its inputs (lmsops.images.plan). Publishing
asks the registry for `<registry>/<namespace>/<name>:<tag>` first: when it is there, its digest is
used and nothing is built or pushed; when it is not, the image is built (with the bases it needs)
and pushed. A deploy to an environment with a registry runs exactly those digests
(`<registry>/<namespace>/<name>@sha256:...`), which the model asks of the registry again
(lmsops.environments.model.registry_references): any machine with the repository and access to the
registry deploys, checks and rolls back the same images, with no local record.

Each image's SBOM travels with it: attached in the same registry to the image's digest
(lmsops.supply, docs/sbom.md). An image that has none yet (pushed now, or before SBOMs existed) gets
one, made from exactly that image; one that has it costs one manifest request.
"""

from __future__ import annotations

import time

from lmsops.core.filelock import exclusive
from lmsops.core.progress import count, seconds
from lmsops.images.context import Context
from lmsops.images.plan import PlannedImage
from lmsops.releases.registry import IMAGE as REGISTRY_IMAGE
from lmsops.releases.registry import registry_up
from lmsops.supply.lookup import ensure_attached
from lmsops.supply.manifest import RegistryImage
from lmsops.supply.oci import SbomRegistry
from lmsops.supply.syft import Scanner


def publish(ctx: Context, address: str, only: set[str] | None = None) -> dict[str, str]:
    """Make every image of this commit (or `only` these) present in the registry at address, building
    and pushing only what it lacks; return local reference -> digest reference."""
    started = time.monotonic()
    # One publisher per registry at a time from this clone (staging and production deployed side by side
    # check, build, push and attach SBOMs once). Pushes from other clones of this machine take turns in
    # Docker.push itself (a machine-wide lock), as two pushes of the same image at once make the registry
    # refuse one ("digest invalid: manifest blob unknown").
    lock = ctx.repo.work / "locks" / f"publish-{address.replace(':', '_').replace('/', '_')}.lock"
    waiting = lambda: ctx.report.say(f"    waiting for another publish to {address} on this machine ...")  # noqa: E731
    with exclusive(lock, on_wait=waiting):
        return _publish_locked(ctx, address, only, started)


def _publish_locked(ctx: Context, address: str, only: set[str] | None, started: float) -> dict[str, str]:
    docker, report = ctx.docker, ctx.report
    registry_up(ctx, address)
    # The registry's own image is infrastructure; `only`: what a deploy runs.
    wanted = [image for image in ctx.plan() if image.name != REGISTRY_IMAGE and (only is None or image.name in only)]
    held = {image.name: docker.registry_digest(_remote(address, image)) for image in wanted}
    missing = [image.name for image in wanted if held[image.name] is None]
    report.say(
        f"    {address}: {len(wanted) - len(missing)} of {count(len(wanted), 'image')} already there"
        + (f"; building and pushing {', '.join(missing)}" if missing else ": nothing to build or push")
    )
    if missing:
        ctx.build_only(missing)
    published: dict[str, str] = {}
    for image in wanted:
        remote = _remote(address, image)
        repository = remote.rsplit(":", 1)[0]
        digest = held[image.name]
        if digest is None:
            pushed = time.monotonic()
            docker.tag(image.reference, remote)
            digest = docker.push(remote)
            report.say(f"    {image.name}: pushed {repository}@{digest[:19]}... ({seconds(pushed)})")
        published[image.reference] = f"{repository}@{digest}"
    attached = attach_sboms(ctx, address, wanted, published)
    report.say(
        f"publish: {count(len(wanted), 'image')} in {address}, {len(missing)} pushed, "
        f"{count(attached, 'SBOM')} attached ({seconds(started)})"
    )
    return published


def attach_sboms(ctx: Context, address: str, wanted: list[PlannedImage], published: dict[str, str]) -> int:
    """Every published image's SBOM next to it in the registry; the number attached now."""
    scanner, client = Scanner(ctx.docker, ctx.repo.work / "sbom"), SbomRegistry(address)
    attached = 0
    for image in wanted:
        repository, digest = published[image.reference].split("@", 1)
        target = RegistryImage(address, repository.removeprefix(f"{address}/"), digest)
        sbom, scan = ensure_attached(ctx.docker, scanner, client, target)
        if scan is not None:
            attached += 1
            how = f"scanned in {scan.seconds:.1f} s" if scan.source == "scanned" else f"from the {scan.source}"
            ctx.report.say(
                f"    {image.name}: SBOM attached {repository}@{sbom.manifest_digest[:19]}... "
                f"({len(scan.sbom.components)} packages, {how})"
            )
    return attached


def _remote(address: str, image: PlannedImage) -> str:
    return f"{address}/{image.reference}"
