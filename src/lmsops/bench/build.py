"""Build benchmarks: a no-op build against plain `docker compose build` of the same Dockerfiles, a
one-service change against plain `docker build` of that image, and image sizes against the same
service on python:3.11-slim when that image is on this machine.

A one-service change is a throwaway file in the service's app folder (an input lmsops hashes and the
Dockerfile copies), written fresh each round and removed at the end with the images it produced.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.core.yamlfile import dump_yaml
from lmsops.images.build import build
from lmsops.images.plan import PlannedImage, plan_images
from lmsops.images.versions import load_versions

ROUNDS = 5
CHANGED_SERVICE = "catalog"
CHANGE_FILE = "_lmsops_bench_change.py"  # removed by the bench; ignored by git
BENCH_REPOSITORY = "lmsops-bench"
SLIM = "python:3.11-slim"


def free_port() -> int:
    """A free loopback port for a throwaway deployment's gateway."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(action: Callable[..., object], *args: str) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def compose_build_file(images: list[PlannedImage], path: Path) -> Path:
    """The same Dockerfiles, contexts and build arguments as lmsops builds, for `docker compose build`."""
    services = {
        image.name: {
            "image": f"{BENCH_REPOSITORY}/{image.name}:compose",
            "build": {"context": str(image.spec.context), "dockerfile": str(image.spec.dockerfile),
                      "args": dict(image.build_args)},
        }
        for image in images
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_yaml({"services": services}))
    return path


def no_op_against_compose(repo: Repo, docker: Docker) -> tuple[float, float]:
    """Median seconds of a no-op `lmsops build` and of a warm `docker compose build` of the same images."""
    images = plan_images(repo, load_versions(repo))
    file = compose_build_file(images, repo.work / "bench" / "compose-build.yaml")
    compose = ("build", "--quiet")
    quiet = Reporter(StringIO())
    try:
        docker.compose(BENCH_REPOSITORY, [file], None, *compose)  # warms Compose's cache (not measured)
        ours, theirs = [], []
        for _ in range(ROUNDS):  # alternate, so both sides see the same machine
            ours.append(timed(lambda: build(repo, docker, quiet, mode="offline")))
            theirs.append(timed(lambda: docker.compose(BENCH_REPOSITORY, [file], None, *compose)))
        return statistics.median(ours), statistics.median(theirs)
    finally:
        for image in images:
            docker.remove_image(f"{BENCH_REPOSITORY}/{image.name}:compose")


@contextmanager
def service_change(repo: Repo, service: str) -> Iterator[Callable[[str], None]]:
    """A function that changes one service's source (a new content each call); undone on exit."""
    path = repo.services / service / "app" / CHANGE_FILE

    def change(content: str) -> None:
        path.write_text(f"# lmsops bench: a change to the source ({content})\n")

    try:
        yield change
    finally:
        path.unlink(missing_ok=True)


def one_service_rebuild(repo: Repo, docker: Docker) -> tuple[float, float]:
    """Median seconds to rebuild after a change to one service: lmsops, and plain `docker build`."""
    quiet = Reporter(StringIO())
    image = next(i for i in plan_images(repo, load_versions(repo)) if i.name == CHANGED_SERVICE)
    plain_tag = f"{BENCH_REPOSITORY}/{CHANGED_SERVICE}:plain"
    made: list[str] = []
    ours, theirs = [], []
    try:
        with service_change(repo, CHANGED_SERVICE) as change:
            for round_ in range(ROUNDS):
                change(f"round {round_}, lmsops")
                ours.append(timed(lambda: made.extend(b.reference for b in build(repo, docker, quiet, mode="offline")
                                                      if b.built)))  # fmt: skip
                change(f"round {round_}, docker build")
                theirs.append(timed(lambda: docker.build(
                    context=image.spec.context, dockerfile=image.spec.dockerfile, tags=[plain_tag],
                    build_args=dict(image.build_args), labels={}, iidfile=repo.work / "bench" / "plain.iid",
                )))  # fmt: skip
    finally:
        for reference in {*made, plain_tag}:
            docker.remove_image(reference)
    return statistics.median(ours), statistics.median(theirs)


def slim_sizes(repo: Repo, docker: Docker) -> dict[str, tuple[int, int]] | None:
    """service -> (its size, python:3.11-slim's size) when that image is on this machine, else None.

    Not pulled: lmsops talks to no registry but its own, and this machine reaches none with it."""
    slim = docker.image_size(SLIM) if docker.image_inspect(SLIM) else 0
    if not slim:
        return None
    python_services = [i for i in plan_images(repo, load_versions(repo)) if "PYTHON_IMAGE" in i.build_args]
    return {image.name: (docker.image_size(image.reference), slim) for image in python_services}
