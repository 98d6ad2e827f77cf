"""`nox -s deploy -- <env>`: validate, build once, apply, wait until the declared state runs.

Nothing is changed when validation fails: the guard (confirmation, clean tree), every secret (read
from its source) and the target (its engine answers, a swarm manager) are checked before anything is
built or pushed. A release that
does not become healthy is rolled back (Swarm: failure_action rollback per service; Compose: the
last model that deployed cleanly) and reported as a failure naming the service. One deploy computes
the image plan once and builds once (lmsops.images.context).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lmsops.core import gitinfo
from lmsops.core.errors import ConfigError, LmsopsError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, seconds
from lmsops.core.seen_images import images_seen_once
from lmsops.deploy.plan import Declared, Plan, plan_of, plan_with_model
from lmsops.deploy.plan_output import text as plan_text
from lmsops.environments.config import Environment, load_environment
from lmsops.environments.model import model_services, read_secrets, resolve, work_dir
from lmsops.environments.stack import deployed_images
from lmsops.images.context import Context
from lmsops.releases.history import Release, model_of, previous
from lmsops.releases.publish import publish
from lmsops.targets.entrypoint import check_entry_point
from lmsops.targets.factory import target_for
from lmsops.targets.lock import DEFAULT_LOCK, LockPolicy
from lmsops.targets.status import require_confirmation


@dataclass(frozen=True)
class DeployResult:
    env: str
    changed: list[str]
    unchanged: list[str]


def guard(repo: Repo, env: Environment, yes: bool) -> None:
    """Environments marked confirm: true need --yes and a clean git tree (what runs is what is committed)."""
    if not env.target.confirm:
        return
    require_confirmation(env, yes, "deploying", f"nox -s deploy -- {env.name}")
    require_clean_tree(repo, env)


def require_clean_tree(repo: Repo, env: Environment) -> None:
    if not env.target.confirm:
        return
    dirty = gitinfo.dirty_files(repo.root)
    if dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise ConfigError(f"refusing to deploy {env.name} from a dirty git tree ({shown}); commit or stash first")


def deploy(
    ctx: Context,
    env_name: str,
    *,
    yes: bool = False,
    init_swarm: bool = False,
    pinned: Mapping[str, str] | None = None,
    note: str = "",
    lock: LockPolicy = DEFAULT_LOCK,
) -> DeployResult:
    """Deploy env_name as its files declare (pinned: service -> image, set by promote only), holding
    the environment's deploy lock from the first build to the recorded release. The plan is printed
    first; a confirm: true environment stops after it unless yes."""
    started = time.monotonic()
    repo, report = ctx.repo, ctx.report
    env = load_environment(repo, env_name, model_services(repo))
    require_clean_tree(repo, env)
    read_secrets(repo, env)  # a secret that cannot be read stops the deploy before any build or push
    if env.target.confirm and not yes:  # a protected environment: the plan, then nothing until --yes
        show_plan(ctx, env_name, pinned, required=True)
        # promote deploys too (note says so): its user re-runs promote, not deploy
        again = f"nox -s deploy -- {env_name} --yes" if not note else "re-run the same command with --yes"
        raise ConfigError(f"{env_name} is protected (confirm: true): nothing was changed; to apply this plan: {again}")
    target = target_for(repo, ctx.docker, env)
    target.prepare(report, init_swarm=init_swarm)
    # Each image inspected once (the build check, the plan, drift and the progress lines ask about the
    # same few; a build or push forgets them): lmsops.core.seen_images.
    with target.locked(f"deploy ({note})" if note else "deploy", lock, report), images_seen_once():
        planned = show_plan(ctx, env_name, pinned)  # under the lock: what this deploy changes, not another's
        if env.target.registry:  # the registry holds the images: build and push only what it lacks
            needed = deployed_images(repo, [image.name for image in ctx.plan()])
            report.say(f"==> {env_name}: the {len(needed)} images it runs, from {env.target.registry}")
            publish(ctx, env.target.registry, only=needed)
            # It runs the digests the push just made: resolved again (the plan showed tags for new images).
            model = resolve(repo, ctx.docker, env_name, pinned, plan=ctx.plan())
        else:
            report.say(f"==> {env_name}: building the images of this commit (built once, the same everywhere)")
            ctx.build()
            # Without a registry the model names this commit's tags, known before the build: the model the
            # plan was computed from is the one to apply (resolving it again costs ~0.7 s of every deploy).
            model = planned.model if planned else resolve(repo, ctx.docker, env_name, pinned, plan=ctx.plan())
        path = model.path(repo)
        path.write_text(model.text)
        report.say(f"==> {env_name}: deploying {len(model.services)} services to {target.description}")
        applied = target.apply(model, path, report)
        check_entry_point(model, report, timeout=model.env.file.deploy.timeout, logs=target.logs_command)
        target.accept(model, path, note, report)  # passed every check: the last good release (history)
    if applied.changed:
        report.say(f"deploy: {env_name} converged in {seconds(started)}: updated {', '.join(applied.changed)}")
    else:
        report.say(
            f"deploy: {env_name} is already as declared: nothing changed, no task restarted ({seconds(started)})"
        )
    return DeployResult(env_name, applied.changed, applied.unchanged)


def show_plan(
    ctx: Context, env_name: str, pinned: Mapping[str, str] | None, *, required: bool = False
) -> Declared | None:
    """Print what the deploy is about to change (pinned: the images promote deploys); return the
    declared side the plan was computed from (None when it could not be computed)."""
    computed: list[Declared] = []

    def compute() -> Plan:
        plan, wanted = plan_with_model(ctx, env_name, dict(pinned or {}))
        computed.append(wanted)
        return plan

    say_plan(ctx.report, compute, env_name, required=required)
    return computed[0] if computed else None


def say_plan(report: Reporter, compute: Callable[[], Plan], env_name: str, *, required: bool = False) -> None:
    """When the command goes on anyway (required false), a plan that cannot be computed is said in one
    line and does not stop it: deploy and rollback check everything themselves."""
    try:
        plan = compute()
    except LmsopsError as exc:
        if required:
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.say(f"plan: {env_name}: not computed ({reason}); going on")
        return
    report.say(plan_text(plan))


def rollback(ctx: Context, env_name: str, *, yes: bool = False, lock: LockPolicy = DEFAULT_LOCK) -> Release:
    """Redeploy the previous release of every service of a Swarm environment together."""
    started = time.monotonic()
    repo, report = ctx.repo, ctx.report
    current = resolve(repo, ctx.docker, env_name, plan=ctx.plan())
    guard(repo, current.env, yes)
    target = target_for(repo, ctx.docker, current.env)
    target.prepare(report)
    with target.locked("rollback", lock, report), images_seen_once():
        history = target.history()
        back_to = previous(history, env_name)
        report.say(f"==> {env_name}: rolling back from release #{history[-1].seq} to #{back_to.seq} ({back_to.at})")
        model = model_of(back_to, current)
        say_plan(report, lambda: plan_of(ctx.docker, Declared(model, {})), env_name)
        path = work_dir(repo, model.env) / "rollback.yaml"
        path.write_text(model.text)
        changed = target.apply(model, path, report).changed
        check_entry_point(model, report, timeout=model.env.file.deploy.timeout, logs=target.logs_command)
        release = target.accept(model, path, f"rollback to #{back_to.seq}", report)
        if release is None:  # unreachable: history() above refused a kind that records none
            raise ConfigError(f"{env_name}: its target records no releases; nothing to roll back to")
    report.say(
        f"rollback: {env_name} runs release #{back_to.seq} again as #{release.seq} in {seconds(started)}"
        f" (updated: {', '.join(changed) or 'nothing'})"
    )
    return release
