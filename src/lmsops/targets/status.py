"""What runs on an environment's target: `nox -s status`, `nox -s drift` and `nox -s down`."""

from __future__ import annotations

from collections.abc import Callable

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.drift.compare import Difference
from lmsops.environments.config import Environment, load_environment
from lmsops.environments.model import Model, model_services, resolve
from lmsops.targets.base import ServiceStatus, Target
from lmsops.targets.factory import target_for, target_of
from lmsops.targets.lock import DEFAULT_LOCK, LockPolicy

__all__ = ["ServiceStatus", "compare", "down", "drift_of", "environment", "require_confirmation", "status"]


def environment(repo: Repo, env_name: str) -> Environment:
    return load_environment(repo, env_name, model_services(repo))


def _ready(repo: Repo, docker: Docker, env_name: str) -> Target:
    target = target_for(repo, docker, environment(repo, env_name))
    target.engine.require_engine()
    return target


def status(repo: Repo, docker: Docker, env_name: str) -> list[ServiceStatus]:
    return _ready(repo, docker, env_name).status()


def require_confirmation(env: Environment, yes: bool, doing: str, command: str) -> None:
    """Environments marked `target.confirm: true` (production) change only with --yes: refused in
    one line naming the command to type, before any docker call."""
    if env.target.confirm and not yes:
        raise ConfigError(f"{doing} {env.name} needs an explicit confirmation: {command} --yes")


def down(
    repo: Repo,
    docker: Docker,
    env_name: str,
    volumes: bool,
    report: Reporter,
    lock: LockPolicy = DEFAULT_LOCK,
    *,
    yes: bool = False,
    before_removal: Callable[[Target], object] | None = None,
) -> None:
    """Remove an environment; first what goes with it besides its containers is listed (volumes,
    secrets, release history). A confirm: true environment needs yes.

    before_removal: run under the deploy lock before anything is removed (the CLI's backup of the
    databases before `down --volumes`); when it raises, nothing is removed."""
    env = environment(repo, env_name)
    flags = " --volumes" if volumes else ""
    require_confirmation(env, yes, "removing", f"nox -s down -- {env_name}{flags}")
    target = target_for(repo, docker, env)
    target.engine.require_engine()
    with target.locked("down", lock, report):  # never under a deploy that is still applying
        if before_removal is not None:
            before_removal(target)
        plan = target.removal_plan(volumes)
        if plan:
            report.say(f"==> {env_name}: removing {target.description}, and with it:")
            for line in plan:
                report.say(f"    {line}")
        target.down(volumes, report)


def drift_of(docker: Docker, model: Model, images: Docker | None = None) -> list[Difference]:
    """Every difference between a resolved model and what runs on its target.

    images: the engine the images were built on (on a multi-node swarm the manager need not hold them).
    """
    return target_of(docker, model).drift(model, images or docker)


def compare(repo: Repo, docker: Docker, env_name: str) -> list[Difference]:
    """Every difference between env_name's declared model and what runs on its target."""
    model = resolve(repo, docker, env_name)
    target = target_of(docker, model)
    target.engine.require_engine()
    return target.drift(model, docker)
