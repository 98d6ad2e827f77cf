"""Staging after a change to one service: `lmsops deploy staging` (build, publish, converge) against
Swarm's own `docker service update --image` of that service to an image already pushed (what
converging alone costs), in alternating rounds on a throwaway staging (`lms-staging-bench`).

The bench makes what it needs and puts the engine back: a single-node swarm when the engine is in
none (left after), lmsops's loopback registry when it is not running (removed after, with its
volume), random secrets for the throwaway stack, and the stack itself (removed with its volumes).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from io import StringIO

from lmsops.bench.build import CHANGED_SERVICE, free_port, service_change, timed
from lmsops.bench.throwaway import throwaway_environments, throwaway_secrets
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.deploy.apply import deploy
from lmsops.images.context import Context
from lmsops.releases.registry import CONTAINER as REGISTRY_CONTAINER
from lmsops.releases.registry import registry_down
from lmsops.targets.status import down
from lmsops.targets.swarm import image_of

ROUNDS = 3
SUFFIX = "-bench"


@dataclass(frozen=True)
class StagingBench:
    deploy_seconds: float  # median: lmsops deploy staging after a one-service change
    service_update_seconds: float  # median: docker service update --image of that service


def bench_staging(repo: Repo, docker: Docker, report: Reporter) -> StagingBench:
    quiet = Reporter(StringIO())
    repo = throwaway_environments(repo, SUFFIX, {"staging": {"LMS_GATEWAY_PORT": str(free_port())}})
    stack = f"lms-staging{SUFFIX}"
    service = f"{stack}_{CHANGED_SERVICE}"
    tags_before = set(_service_tags(docker))
    state, _manager = docker.swarm_state()
    made_swarm = state != "active"
    had_registry = docker.container_exists(REGISTRY_CONTAINER)
    report.say(f"==> bench: deploying staging as lms-staging{SUFFIX} ({ROUNDS} alternating rounds)")
    try:
        with throwaway_secrets(repo), service_change(repo, CHANGED_SERVICE) as change:

            def deploy_staging() -> None:  # one `nox -s deploy -- staging`: its own context
                deploy(Context(repo, docker, quiet, "offline"), "staging", init_swarm=True)

            change("first deploy")
            deploy_staging()
            ours, theirs = [], []
            for round_ in range(ROUNDS):
                before = next(image_of(s) for s in docker.stack_services(stack) if s["Spec"]["Name"] == service)
                change(f"round {round_}")
                ours.append(timed(deploy_staging))
                # Swarm alone: the same service to an image already in the registry (the one before),
                # waiting as the docker client does until the update has converged.
                theirs.append(timed(docker.run, "service", "update", "--quiet", "--image", before, service))
            return StagingBench(statistics.median(ours), statistics.median(theirs))
    finally:
        down(repo, docker, "staging", True, quiet)
        for tag in set(_service_tags(docker)) - tags_before:  # the images of the bench's changes
            docker.remove_image(tag)
        if not had_registry:
            registry_down(docker, quiet, volumes=True)
        if made_swarm:
            docker.swarm_leave()


def _service_tags(docker: Docker) -> list[str]:
    return [tag for tag in docker.image_tags() if f"lmsops/{CHANGED_SERVICE}:" in tag]
