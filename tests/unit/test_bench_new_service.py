"""The new-service benchmark (lmsops.bench.new_service): the seconds from `copier copy` to a green
conformance run, measured in a scratch clone with the commands a user types, and the throwaway dev and
the new service's images removed after, also when a step fails. The programs, the deploy and the clock
are fakes; the scratch clone and its throwaway environment files are real."""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lmsops.bench import new_service
from lmsops.bench.new_service import BenchError, bench_new_service
from lmsops.core import proc
from lmsops.core.errors import DeployError, LmsopsError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.context import Context
from tests.unit.cli_fakes import Clock, EngineDocker, Recorder, environment_file

PORT = 18811
CONFORMANCE = [sys.executable, "-m", "pytest", "tests/conformance", "--env", "dev", "-q", "-p", "no:cacheprovider"]


class Programs:
    """git, copier and pytest as the bench runs them: `git clone` copies the repository; each takes
    its seconds on the clock; `fail` names a program that exits 1."""

    SECONDS: ClassVar[dict[str, float]] = {"git": 5.0, "/venv/bin/copier": 2.0, sys.executable: 20.0}

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[list[str], Path | None]] = []
        self.fail = ""

    def __call__(self, argv: list[str], *, cwd: Path | None = None, check: bool = True, **_: Any) -> proc.Result:
        assert check is False  # the bench reads the exit code itself, to name the step
        self.calls.append((list(argv), cwd))
        self.clock.advance(self.SECONDS[argv[0]])
        if argv[0] == self.fail:
            return proc.Result(argv, 1, "Template not found", "copier: error")
        if argv[:2] == ["git", "clone"]:
            shutil.copytree(argv[3], argv[4])
        return proc.Result(argv, 0, "", "")


class Bench:
    def __init__(self, repo: Repo, clock: Clock) -> None:
        self.repo, self.clock = repo, clock
        self.programs = Programs(clock)
        self.docker = EngineDocker()
        self.docker.add_image("lmsops/benchnew:0.0.0-0123456789ab")
        self.docker.add_image("lmsops/catalog:0.1.0-0123456789ab")
        self.deploys: list[tuple[Context, str]] = []
        self.deploy_error: LmsopsError | None = None
        self.down = Recorder()

    def deploy(self, ctx: Context, env: str) -> None:
        self.deploys.append((ctx, env))
        self.clock.advance(30.0)
        if self.deploy_error is not None:
            raise self.deploy_error


@pytest.fixture
def bench(project: Repo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bench]:
    clock = Clock()
    monkeypatch.setattr(new_service, "time", clock)
    fakes = Bench(project, clock)
    monkeypatch.setattr(proc, "run", fakes.programs)
    monkeypatch.setattr(proc, "tool", lambda name: f"/venv/bin/{name}")
    monkeypatch.setattr(new_service, "deploy", fakes.deploy)
    monkeypatch.setattr(new_service, "down", fakes.down)
    yield fakes


def run(bench: Bench) -> float:
    return bench_new_service(bench.repo, bench.docker, Reporter(io.StringIO()), PORT)


def test_the_seconds_run_from_copier_to_green_conformance_not_the_clone(bench: Bench) -> None:
    assert run(bench) == 2.0 + 30.0 + 20.0


def test_the_steps_are_the_commands_a_user_types_in_a_scratch_clone(bench: Bench) -> None:
    run(bench)
    (clone_argv, scratch), (copier, copier_cwd), (conformance, conformance_cwd) = bench.programs.calls
    clone = Path(clone_argv[-1])
    assert clone_argv == ["git", "clone", "--quiet", str(bench.repo.root), str(clone)] and scratch == clone.parent
    assert copier == ["/venv/bin/copier", "copy", "--defaults", "--data", "team=bench", "templates/service",
                      "services/benchnew"]  # fmt: skip
    assert (copier_cwd, conformance, conformance_cwd) == (clone, CONFORMANCE, clone)
    assert not clone.exists(), "the scratch clone is removed"


def test_dev_is_deployed_from_the_clone_as_a_throwaway_on_the_given_port(bench: Bench) -> None:
    run(bench)
    [(ctx, env)] = bench.deploys
    clone = Path(bench.programs.calls[0][0][-1])
    assert (env, ctx.mode, ctx.docker, ctx.repo.root) == ("dev", "offline", bench.docker, clone)
    assert ctx.repo.env_root is not None and ctx.repo.env_root.is_relative_to(clone / ".lmsops" / "throwaway")
    assert bench.down.call.args[:4] == (ctx.repo, bench.docker, "dev", True)


def test_the_throwaway_copy_names_its_own_target_and_port(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def deploy(ctx: Context, env: str) -> None:  # read while the scratch clone exists
        seen.update(environment_file(ctx.repo, "dev"))

    monkeypatch.setattr(new_service, "deploy", deploy)
    run(bench)
    assert (seen["target"]["name"], seen["variables"]["LMS_GATEWAY_PORT"]) == ("lms-dev-newsvc", PORT)


def test_only_the_new_services_images_are_removed_after(bench: Bench) -> None:
    run(bench)
    assert bench.docker.removed == ["lmsops/benchnew:0.0.0-0123456789ab"]
    assert "lmsops/catalog:0.1.0-0123456789ab" in bench.docker.images


def test_a_failed_copier_step_is_named_with_its_output_and_dev_is_still_removed(bench: Bench) -> None:
    bench.programs.fail = "/venv/bin/copier"
    with pytest.raises(BenchError) as error:
        run(bench)
    assert str(error.value) == "new service bench: copier copy failed (1):\nTemplate not found\ncopier: error"
    assert isinstance(error.value, LmsopsError)  # the CLI shows it as one message, no traceback
    assert bench.deploys == []
    assert bench.down.call.args[2:4] == ("dev", True)
    assert bench.docker.removed == ["lmsops/benchnew:0.0.0-0123456789ab"]


def test_a_failed_deploy_still_removes_dev_and_the_images(bench: Bench) -> None:
    bench.deploy_error = DeployError("benchnew did not become healthy")
    with pytest.raises(DeployError):
        run(bench)
    assert len(bench.programs.calls) == 2  # no conformance run
    assert bench.down.calls and bench.docker.removed == ["lmsops/benchnew:0.0.0-0123456789ab"]


def test_a_failed_clone_stops_before_anything_is_deployed(bench: Bench) -> None:
    bench.programs.fail = "git"
    with pytest.raises(BenchError, match=r"^new service bench: git clone failed \(1\)"):
        run(bench)
    assert (bench.deploys, bench.down.calls, bench.docker.removed) == ([], [], [])
