"""`nox -s promote -- staging production`: run in production exactly the digests that run in staging.

The source must be healthy (every service at its desired replicas) and not drifted (what runs is
what its files declare, so what passed its checks is what gets promoted). Its running image
digests then replace the images of the destination, which keeps its own configuration and guard
(production: --yes and a clean tree).
"""

from __future__ import annotations

from lmsops.core.errors import ConfigError
from lmsops.deploy.apply import DeployResult, deploy
from lmsops.environments.model import resolve
from lmsops.images.context import Context
from lmsops.targets.factory import target_of
from lmsops.targets.lock import DEFAULT_LOCK, LockPolicy


def promote(
    ctx: Context,
    source: str,
    destination: str,
    *,
    yes: bool = False,
    lock: LockPolicy = DEFAULT_LOCK,
) -> DeployResult:
    repo, docker, report = ctx.repo, ctx.docker, ctx.report
    model = resolve(repo, docker, source, plan=ctx.plan())
    if not model.env.target.registry:  # only then does it run digests that another engine can pull
        raise ConfigError(
            f"promote takes the digests an environment deployed from a registry runs; {source} has no "
            f"target.registry in env/{source}.yaml"
        )
    report.say(f"==> promote: checking that {source} is healthy and runs what it declares")
    target = target_of(docker, model)
    target.prepare(report)
    rows = target.status()
    unhealthy = [f"{row.service} {row.running}/{row.desired}" for row in rows if row.running != row.desired]
    if not rows or unhealthy:
        raise ConfigError(f"{source} is not healthy ({', '.join(unhealthy) or 'not deployed'}); nothing promoted")
    drifted = target.drift(model, docker)
    if drifted:
        lines = "\n".join(f"  - {difference.line()}" for difference in drifted[:10])
        raise ConfigError(f"{source} has drifted from its declaration; nothing promoted:\n{lines}")
    digests = {row.service: row.image for row in rows}
    by_tag = [name for name, image in digests.items() if "@sha256:" not in image]
    if by_tag:
        raise ConfigError(f"{source} runs {', '.join(by_tag)} by tag, not by digest; deploy it from a registry first")
    report.say(f"==> promote: {destination} gets the digests running in {source}:")
    for name, image in sorted(digests.items()):
        report.say(f"    {name}: {image}")
    return deploy(ctx, destination, yes=yes, pinned=digests, note=f"promoted from {source}", lock=lock)
