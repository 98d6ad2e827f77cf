"""`nox -s publish`: the registry is the source of truth for built images.

Every image has a content tag that lmsops computes from its inputs (lmsops.images.plan). Publishing
asks the registry for `<registry>/<namespace>/<name>:<tag>` first: when it is there, its digest is
used and nothing is built or pushed; when it is not, the image is built (with the bases it needs)
and pushed. A deploy to an environment with a registry runs exactly those digests
(`<registry>/<namespace>/<name>@sha256:...`), which the model asks of the registry again
(lmsops.environments.model.registry_references): any machine with the repository and access to the
registry deploys, checks and rolls back the same images, with no local record.
"""

from __future__ import annotations

import time

from lmsops.core.filelock import exclusive
from lmsops.core.progress import seconds
from lmsops.images.context import Context
from lmsops.images.plan import PlannedImage
from lmsops.releases.registry import IMAGE as REGISTRY_IMAGE
from lmsops.releases.registry import registry_up


def publish(ctx: Context, address: str, only: set[str] | None = None) -> dict[str, str]:
    """Make every image of this commit (or `only` these) present in the registry at address, building
    and pushing only what it lacks; return local reference -> digest reference."""
    started = time.monotonic()
    # One publisher per registry at a time on this machine: two pushes of the same image at once make
    # the registry refuse one ("digest invalid: manifest blob unknown", seen with staging and production
    # deployed side by side).
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
        f"    {address}: {len(wanted) - len(missing)} of {len(wanted)} image(s) already there"
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
    report.say(f"publish: {len(wanted)} image(s) in {address}, {len(missing)} pushed ({seconds(started)})")
    return published


def _remote(address: str, image: PlannedImage) -> str:
    return f"{address}/{image.reference}"
