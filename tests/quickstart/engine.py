"""The shared engine the quickstart run borrows. The README deploys dev and staging under their real
names (env/dev.yaml, env/staging.yaml: lms-dev, lms-staging), so the run first checks that neither is
on the engine and refuses in one line when one is (exit 3, nothing changed); afterwards it puts the
engine back as it found it, whatever happened: both removed with their volumes, secrets, release
history and deploy locks, the images and tags it made, the loopback registry and the swarm if it
started them.

`python -m tests.quickstart.engine` is the check alone (nox -s quickstart runs it first)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from lmsops.core.docker import Docker
from lmsops.core.errors import LmsopsError
from lmsops.core.paths import Repo, find_repo
from lmsops.core.progress import Reporter, count
from lmsops.environments.config import load_environment
from lmsops.environments.model import model_services
from lmsops.releases.registry import CONTAINER as REGISTRY_CONTAINER
from lmsops.releases.registry import registry_down
from lmsops.targets.compose import down_compose
from lmsops.targets.swarm import down_swarm

REFUSED = 3  # a prerequisite of the run is missing: an engine without dev and staging


@dataclass(frozen=True)
class Targets:
    """The Compose project of dev and the Swarm stack of staging, as their files name them."""

    dev: str
    staging: str

    @classmethod
    def of(cls, repo: Repo) -> Targets:
        services = model_services(repo)
        dev, staging = (load_environment(repo, name, services).target.name for name in ("dev", "staging"))
        return cls(dev, staging)


def _names(docker: Docker, *args: str) -> list[str]:
    return docker.run(*args).stdout.split()


def is_manager(docker: Docker) -> bool:
    state, manager = docker.swarm_state()
    return state == "active" and manager


def held(docker: Docker, targets: Targets) -> list[str]:
    """Every object of dev and staging on the engine, as 'KIND NAME': containers by their project or
    stack label, the rest by the prefix Compose and Swarm give their names (lms-dev_, lms-staging_;
    a throwaway copy such as lms-dev-it-gw0_ is not one of them)."""
    found = []
    for label in (f"com.docker.compose.project={targets.dev}", f"com.docker.stack.namespace={targets.staging}"):
        names = _names(docker, "ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}")
        found += [f"container {n}" for n in names]
    prefixes = (f"{targets.dev}_", f"{targets.staging}_")
    for kind in ("volume", "network"):
        found += [f"{kind} {n}" for n in _names(docker, kind, "ls", "--format", "{{.Name}}") if n.startswith(prefixes)]
    if is_manager(docker):  # services, configs (release history, the deploy lock) and secrets are Swarm's
        for kind in ("service", "config", "secret"):
            names = _names(docker, kind, "ls", "--format", "{{.Name}}")
            found += [f"{kind} {n}" for n in names if n.startswith(f"{targets.staging}_")]
    return found


def refusal(docker: Docker, targets: Targets) -> str | None:
    """The one line that stops the run before it changes anything, or None when the engine is free."""
    found = held(docker, targets)
    if not found:
        return None
    shown = ", ".join(found[:4]) + (f" (and {len(found) - 4} more)" if len(found) > 4 else "")
    return (
        f"quickstart: this engine already has {targets.dev} or {targets.staging} ({shown}); the run deploys "
        "both under these names and removes them after, so it stops here and changes nothing: wait for the run "
        "that made them, or remove them if they are yours "
        "(nox -s down -- dev --volumes; nox -s down -- staging --volumes)"
    )


@dataclass(frozen=True)
class Before:
    """What the engine had before the run, to put it back."""

    manager: bool
    registry: bool
    tags: frozenset[str]
    images: frozenset[str]

    @classmethod
    def of(cls, docker: Docker) -> Before:
        registry = docker.run("container", "inspect", REGISTRY_CONTAINER, check=False).returncode == 0
        return cls(is_manager(docker), registry, frozenset(docker.image_tags()), frozenset(_image_ids(docker)))


def _image_ids(docker: Docker) -> list[str]:
    return _names(docker, "image", "ls", "--all", "--quiet", "--no-trunc")


def put_back(docker: Docker, targets: Targets, before: Before, report: Reporter) -> list[str]:
    """Remove what the run made; return what is still there (to be reported, never hidden)."""
    problems = []
    try:
        if is_manager(docker):
            down_swarm(docker, targets.staging, volumes=True, report=report)
        down_compose(docker, targets.dev, volumes=True, report=report)
    except LmsopsError as exc:  # what is left is removed one by one below, and named if it stays
        problems.append(str(exc).splitlines()[0])
    for item in held(docker, targets):  # a deploy lock of a killed deploy, a network still draining, ...
        kind, name = item.split(" ", 1)
        docker.run(kind, "rm", *(["--force"] if kind == "container" else []), name, check=False)
    if not before.registry and docker.run("container", "inspect", REGISTRY_CONTAINER, check=False).returncode == 0:
        registry_down(docker, report, volumes=True)
    made = sorted(set(docker.image_tags()) - before.tags)
    for tag in made:  # the new service's images, their registry tags, anything the clone built
        docker.remove_image(tag)
    for image in set(_image_ids(docker)) - before.images:  # untagged ones they leave (build stages)
        docker.run("image", "rm", image, check=False)
    if made:
        shown = ", ".join(made[:6]) + (" ..." if len(made) > 6 else "")
        report.say(f"    images: {count(len(made), 'tag')} the run made removed ({shown})")
    if not before.manager and is_manager(docker) and not _names(docker, "service", "ls", "--quiet"):
        docker.swarm_leave()  # the run made this engine a swarm (--init-swarm) and nothing else uses it
        report.say("    swarm: left again (the run's --init-swarm made it)")
    left = held(docker, targets) + [f"image {t}" for t in sorted(set(docker.image_tags()) - before.tags)]
    return problems + [f"still there: {item}" for item in left]


def main() -> int:
    docker = Docker()
    try:
        docker.require_engine()
        message = refusal(docker, Targets.of(find_repo()))
    except LmsopsError as exc:
        print(f"lmsops: {exc}", file=sys.stderr)
        return exc.exit_code
    if message:
        print(message, file=sys.stderr)
        return REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
