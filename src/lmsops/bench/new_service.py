"""A new service, end to end: stamped with copier, built, deployed to dev and conformance green.

Measured in a scratch clone of the committed repository (the working tree is never touched), with
the commands a user types: `copier copy templates/service services/<name>`, `lmsops deploy dev`
(which builds), then the conformance suite of dev. The throwaway deployment and the new service's
image are removed afterwards. Seconds only: there is no tool to compare it with side by side.
"""

from __future__ import annotations

import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

from lmsops.bench.throwaway import throwaway_environments
from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import LmsopsError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.deploy.apply import deploy
from lmsops.images.context import Context
from lmsops.images.wheelhouse import share_wheel_cache
from lmsops.targets.status import down

NAME = "benchnew"
SUFFIX = "-newsvc"


class BenchError(LmsopsError):
    """A step of the new-service bench failed; names the step and shows its output."""


def _step(what: str, argv: list[str], cwd: Path) -> None:
    result = proc.run(argv, cwd=cwd, check=False)
    if result.returncode != 0:
        raise BenchError(f"new service bench: {what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def bench_new_service(repo: Repo, docker: Docker, report: Reporter, gateway_port: int) -> float:
    """Seconds from `copier copy` to a green conformance run of dev with the new service in it."""
    quiet = Reporter(StringIO())
    report.say(f"==> bench: a new service {NAME}: copier, deploy dev, conformance (scratch clone)")
    with tempfile.TemporaryDirectory(prefix="lmsops-bench-") as scratch:
        clone = Path(scratch) / "lms"
        _step("git clone", ["git", "clone", "--quiet", str(repo.root), str(clone)], Path(scratch))
        share_wheel_cache(repo, Repo(clone))  # as in the repository itself: its wheels already fetched
        copy = throwaway_environments(Repo(clone), SUFFIX, {"dev": {"LMS_GATEWAY_PORT": str(gateway_port)}})
        try:
            started = time.perf_counter()
            copier = [proc.tool("copier") or "copier", "copy", "--defaults", "--data", "team=bench"]
            _step("copier copy", [*copier, "templates/service", f"services/{NAME}"], clone)
            deploy(Context(copy, docker, quiet, "offline"), "dev")
            conformance = [sys.executable, "-m", "pytest", "tests/conformance", "--env", "dev", "-q",
                           "-p", "no:cacheprovider"]  # fmt: skip
            _step("conformance of dev", conformance, clone)
            return time.perf_counter() - started
        finally:
            down(copy, docker, "dev", True, quiet)
            for tag in docker.image_tags(f"lmsops/{NAME}"):
                docker.remove_image(tag)
