"""What a test run shares on the engine: a swarm and lmsops's loopback registry.

Prepared once per run by the process that controls it (pytest itself, or pytest-xdist's controller
when test files run in parallel workers), before any test, and put back as it was after the last
one: a swarm made by the run is left, a registry started by the run is removed with its volume and
the tags pushed to it. What was there before the run is kept. Workers only use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import LmsopsError
from lmsops.core.paths import find_repo
from lmsops.core.progress import Reporter
from lmsops.images.context import Context
from lmsops.releases.registry import CONTAINER as REGISTRY_CONTAINER
from lmsops.releases.registry import registry_down, registry_up

REGISTRY = "127.0.0.1:5000"


@dataclass(frozen=True)
class Prepared:
    made_swarm: bool
    started_registry: bool


_KEY = pytest.StashKey[Prepared]()


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def prepare(config: pytest.Config) -> None:
    """Make the swarm and the registry exist (controller only)."""
    if is_worker(config):
        return
    docker = Docker()
    try:
        docker.require()
        state, _manager = docker.swarm_state()
        made_swarm = state != "active"
        if made_swarm:
            docker.swarm_init()
        running = docker.run("container", "inspect", REGISTRY_CONTAINER, check=False).returncode == 0
        registry_up(Context(find_repo(), docker, Reporter(), "offline"), REGISTRY)
    except LmsopsError as exc:  # a missing engine is the run's first and only error, never a traceback
        raise pytest.UsageError(f"lmsops: {exc}") from exc
    config.stash[_KEY] = Prepared(made_swarm, not running)


def restore(config: pytest.Config) -> None:
    """Put the engine back as the run found it (controller only)."""
    prepared = config.stash.get(_KEY, None)
    if prepared is None or is_worker(config):
        return
    docker = Docker()
    if prepared.started_registry:
        registry_down(docker, Reporter(), volumes=True)
        for tag in [t for t in docker.image_tags() if t.startswith((f"{REGISTRY}/", "localhost:5000/"))]:
            docker.remove_image(tag)
    if prepared.made_swarm:
        docker.swarm_leave()
