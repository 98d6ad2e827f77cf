"""The deployment a resilience run works on: a throwaway copy of an environment in a scratch clone.

A run never touches the environment it is named after: like the benchmarks it clones the committed
repository, renames the environment's target (lms-staging-rz, on a free loopback port) and gives its
secrets throwaway values, so that scenarios may add a service, change the configuration, kill tasks
and restart PostgreSQL. The same files, images and commands as a real deploy; removed afterwards.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsops.bench.throwaway import throwaway_secrets
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, LmsopsError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.core.yamlfile import dump_yaml, read_yaml
from lmsops.deploy.apply import DeployResult, deploy
from lmsops.environments.config import load_environment
from lmsops.environments.model import Model, model_services, resolve
from lmsops.images.context import Context
from lmsops.targets.base import ServiceStatus, Target
from lmsops.targets.entrypoint import local_gateway_url
from lmsops.targets.factory import target_for


class ResilienceError(LmsopsError):
    """A scenario could not be run or measured (not a finding about the LMS: those are reported)."""


@dataclass
class Session:
    """One throwaway deployment of env_name (the repository read from clone, environments renamed)."""

    repo: Repo
    docker: Docker
    env_name: str
    report: Reporter
    quiet: Reporter
    bases: list[str] = field(default_factory=list)  # the gateway's addresses, for the load
    pins: dict[str, str] = field(default_factory=dict)  # service -> image, set by image scenarios
    derived: list[str] = field(default_factory=list)  # image tags the scenarios made (removed after)
    added: list[str] = field(default_factory=list)  # services the scenarios stamped (images removed after)
    init_swarm: bool = False  # the first deploy may make this engine a single-node swarm
    _secrets: dict[str, str] = field(default_factory=dict)

    @property
    def env_file(self) -> Path:
        return self.repo.environments / f"{self.env_name}.yaml"

    @property
    def project(self) -> str:
        """The copy's target name (lms-staging-rz): from its file, nothing deployed needed."""
        return load_environment(self.repo, self.env_name, model_services(self.repo)).target.name

    def context(self) -> Context:
        return Context(self.repo, self.docker, self.quiet, "offline")

    def deploy(self) -> DeployResult:
        """Deploy the copy as its files say now (with the scenarios' pinned images)."""
        with self.secret_values():
            pinned = self.pins or None
            return deploy(self.context(), self.env_name, pinned=pinned, note="resilience", init_swarm=self.init_swarm)

    def model(self) -> Model:
        with self.secret_values():
            return resolve(self.repo, self.docker, self.env_name, self.pins or None, plan=self.context().plan())

    def target(self) -> Target:
        return target_for(self.repo, self.docker, self.model().env)

    def status(self) -> list[ServiceStatus]:
        return self.target().status()

    def set_variable(self, name: str, value: str) -> None:
        """Change one variable of the copy's environment file (a configuration change)."""
        data: Any = read_yaml(self.env_file, self.repo.display(self.env_file))
        data.setdefault("variables", {})[name] = value
        self.env_file.write_text(dump_yaml(data, sort_keys=False))

    def secret_values(self) -> AbstractContextManager[None]:
        """Values for the secrets, the same for the whole run: those already set (a test's), else
        throwaway ones kept for the next deploy; a service added by a scenario gets its own."""
        return throwaway_secrets(self.repo, self._secrets)


def gateway_bases(model: Model) -> list[str]:
    local = local_gateway_url(model)
    if local is None:
        raise ConfigError(
            f"{model.env.name}: its gateway is not published on this machine; the load of a resilience run "
            "talks to loopback only (or to the nodes of `nox -s cluster`)"
        )
    return [local]


def wait_until(condition: Any, what: str, timeout: float, every: float = 0.5) -> float:
    """Poll condition() until true; the seconds it took. ConfigError naming what after timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise ResilienceError(f"resilience: {what}: not within {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started
