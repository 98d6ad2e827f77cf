"""`nox -s deploy -- <env>`: validate, build once, apply, wait until the declared state runs.

Nothing is changed when validation fails. A release that does not become healthy is rolled back
(Swarm: failure_action rollback per service; Compose: the last model that deployed cleanly) and
reported as a failure naming the service.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from lmsops.core import gitinfo
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, seconds
from lmsops.environments.config import Overrides, load_environment
from lmsops.environments.model import Model, model_services, resolve, work_dir
from lmsops.images.bootstrap import Mode
from lmsops.images.build import build
from lmsops.releases.history import Release, model_of, previous, record_release, releases
from lmsops.releases.publish import deployed_images, publish
from lmsops.targets.compose import deploy_compose
from lmsops.targets.entrypoint import check_entry_point
from lmsops.targets.swarm import deploy_swarm


@dataclass(frozen=True)
class DeployResult:
    env: str
    changed: list[str]
    unchanged: list[str]


def guard(repo: Repo, model: Model, yes: bool) -> None:
    """Environments marked confirm: true need --yes and a clean git tree (what runs is what is committed)."""
    if not model.env.target.confirm:
        return
    if not yes:
        raise ConfigError(
            f"deploying {model.env.name} needs an explicit confirmation: nox -s deploy -- {model.env.name} --yes"
        )
    dirty = gitinfo.dirty_files(repo.root)
    if dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise ConfigError(f"refusing to deploy {model.env.name} from a dirty git tree ({shown}); commit or stash first")


def deploy(
    repo: Repo,
    docker: Docker,
    env_name: str,
    report: Reporter,
    *,
    yes: bool = False,
    init_swarm: bool = False,
    mode: Mode = "auto",
    overrides: Overrides | None = None,
    note: str = "",
) -> DeployResult:
    started = time.monotonic()
    registry = load_environment(repo, env_name, model_services(repo), overrides).target.registry
    if registry:  # build once, push, then deploy exactly the pushed digests
        needed = deployed_images(repo)
        report.say(f"==> {env_name}: building the images of this commit, publishing the {len(needed)} it runs "
                   f"to {registry}")  # fmt: skip
        publish(repo, docker, report, registry, mode, only=needed)
    model = resolve(repo, docker, env_name, overrides)
    if overrides is None or not overrides.name_suffix:  # a renamed test target is not the real one
        guard(repo, model, yes)
    target = docker.for_target(model.env.target.context, model.env.target.host)
    target.require_engine()
    if model.env.target.kind == "swarm":
        _require_swarm(target, model, init_swarm, report)
    report.say(f"==> {env_name}: building the images of this commit (built once, the same in every environment)")
    build(repo, docker, report, mode=mode)
    path = model.path(repo)
    path.write_text(model.text)
    report.say(f"==> {env_name}: deploying {len(model.services)} services to {_where(model)}")
    if model.env.target.kind == "compose":
        changed, unchanged = deploy_compose(target, model, path, work_dir(repo, model.env) / "last-good.yaml", report)
        check_entry_point(model, report, timeout=model.env.file.deploy.timeout)
    else:
        changed, unchanged = deploy_swarm(target, model, path, report)
        check_entry_point(model, report, timeout=model.env.file.deploy.timeout)  # before it counts as a release
        shutil.copyfile(path, work_dir(repo, model.env) / "last-good.yaml")
        release = record_release(target, model, note)
        report.say(f"    release #{release.seq} recorded (nox -s history -- {env_name})")
    if changed:
        report.say(f"deploy: {env_name} converged in {seconds(started)}: updated {', '.join(changed)}")
    else:
        report.say(
            f"deploy: {env_name} is already as declared: nothing changed, no task restarted ({seconds(started)})"
        )
    return DeployResult(env_name, changed, unchanged)


def _where(model: Model) -> str:
    target = model.env.target
    engine = (
        f"context {target.context}" if target.context else f"host {target.host}" if target.host else "the local engine"
    )
    kind = "Compose project" if target.kind == "compose" else "Swarm stack"
    return f"{kind} {target.name} on {engine}"


def _require_swarm(docker: Docker, model: Model, init_swarm: bool, report: Reporter) -> None:
    state, manager = docker.swarm_state()
    if state == "active" and manager:
        return
    if state == "active":
        raise ConfigError(f"{model.env.name}: this engine is a swarm worker; point target.context at a manager")
    if not init_swarm:
        raise ConfigError(
            f"{model.env.name} deploys to a Swarm stack, but this engine is not part of a swarm. "
            f"Run `nox -s deploy -- {model.env.name} --init-swarm` to make it a single-node swarm "
            "(docker swarm init --advertise-addr 127.0.0.1), or set target.context in "
            f"env/{model.env.name}.yaml to a swarm manager"
        )
    docker.swarm_init()
    report.say(
        "    initialised a single-node swarm on this engine (--init-swarm); leave it with `docker swarm leave --force`"
    )


def rollback(
    repo: Repo,
    docker: Docker,
    env_name: str,
    report: Reporter,
    *,
    yes: bool = False,
    overrides: Overrides | None = None,
) -> Release:
    """Redeploy the previous release of every service of a Swarm environment together."""
    started = time.monotonic()
    current = resolve(repo, docker, env_name, overrides)
    if current.env.target.kind != "swarm":
        raise ConfigError(f"{env_name} is a Compose environment; rollback works on Swarm stacks (its history)")
    if overrides is None or not overrides.name_suffix:
        guard(repo, current, yes)
    target = docker.for_target(current.env.target.context, current.env.target.host)
    target.require_engine()
    history = releases(target, current.project)
    back_to = previous(history, env_name)
    report.say(f"==> {env_name}: rolling back from release #{history[-1].seq} to #{back_to.seq} ({back_to.at})")
    model = model_of(back_to, current)
    path = work_dir(repo, model.env) / "rollback.yaml"
    path.write_text(model.text)
    changed, _unchanged = deploy_swarm(target, model, path, report)
    check_entry_point(model, report, timeout=model.env.file.deploy.timeout)
    release = record_release(target, model, note=f"rollback to #{back_to.seq}")
    report.say(
        f"rollback: {env_name} runs release #{back_to.seq} again as #{release.seq} in {seconds(started)}"
        f" (updated: {', '.join(changed) or 'nothing'})"
    )
    return release
