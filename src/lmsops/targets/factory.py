"""The one place that decides which kind of target an environment is (env/<name>.yaml target.kind)."""

from __future__ import annotations

from pathlib import Path

from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.environments.config import Environment
from lmsops.environments.model import Model, work_dir
from lmsops.targets.base import Target
from lmsops.targets.compose import ComposeTarget
from lmsops.targets.swarm import SwarmTarget

_KINDS: dict[str, type[ComposeTarget] | type[SwarmTarget]] = {"compose": ComposeTarget, "swarm": SwarmTarget}


def make_target(docker: Docker, env: Environment, work: Path) -> Target:
    """The target of env, its adapter pointed at env's engine (target.context / target.host)."""
    kind = _KINDS[env.target.kind]  # environments.config admits only these kinds
    return kind(env, docker.for_target(env.target.context, env.target.host), work)


def target_for(repo: Repo, docker: Docker, env: Environment) -> Target:
    return make_target(docker, env, work_dir(repo, env))


def target_of(docker: Docker, model: Model) -> Target:
    """The target a resolved model deploys to (its rendered files sit in the target's work dir)."""
    return make_target(docker, model.env, model.env_file.parent)
