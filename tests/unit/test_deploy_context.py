"""One deploy computes the image plan once and builds once (lmsops.images.context).

The deploy runs for real on a clone of this repository, with the engine faked: images are built by
FakeDocker, `docker compose config` is the real client (it needs no engine), the target only
records what it was asked to apply. The counts are taken where every caller must pass, inside
lmsops.images.plan and lmsops.images.build, so a step that recomputed the plan or built again
behind the context's back would be counted too.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lmsops.bench.throwaway import throwaway_secrets
from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.deploy import apply as apply_module
from lmsops.environments.config import Environment
from lmsops.environments.model import Model
from lmsops.images import build as build_module
from lmsops.images import plan as plan_module
from lmsops.images.bootstrap import BootstrapResult
from lmsops.images.context import Context
from lmsops.images.discovery import select
from lmsops.releases import publish as publish_module
from lmsops.targets.base import Applied
from lmsops.targets.lock import LockPolicy
from tests.unit.conftest import PROJECT
from tests.unit.fakes import FakeDocker


class EngineFreeDocker(FakeDocker):
    """FakeDocker whose `docker compose config` is the real client's (it renders without an engine)."""

    def require_compose(self) -> str:
        return Docker().require_compose()

    def compose(
        self, project: str, files: Sequence[Path], env_file: Path | None, *args: str, check: bool = True
    ) -> proc.Result:
        assert args[:1] == ("config",), f"only `compose config` may run in this test, not {args}"
        return Docker().compose(project, files, env_file, *args, check=check)

    def push(self, reference: str) -> str:
        digest = "sha256:" + hashlib.sha256(reference.encode()).hexdigest()
        self.registry[reference] = digest
        return digest

    def registry_digest(self, reference: str) -> str | None:
        return self.registry.get(reference)

    @property
    def registry(self) -> dict[str, str]:  # the registry's tags -> digests (empty at first)
        if not hasattr(self, "_registry"):
            self._registry: dict[str, str] = {}
        return self._registry


class RecordingTarget:
    """A target that converges at once and remembers the models it was given."""

    def __init__(self, env: Environment, engine: Docker) -> None:
        self.env, self.engine = env, engine
        self.applied: list[Model] = []
        self.lock_held = False
        self.description = f"recording target {env.target.name}"

    def prepare(self, report: Reporter, *, init_swarm: bool = False) -> None:
        return None

    def apply(self, model: Model, path: Path, report: Reporter) -> Applied:
        assert self.lock_held, "a deploy applies only under the environment's deploy lock"
        self.applied.append(model)
        return Applied(sorted(model.services), [])

    def accept(self, model: Model, path: Path, note: str, report: Reporter) -> None:
        return None

    def logs_command(self, service: str) -> str:
        return f"logs of {service}"

    @contextmanager
    def locked(self, command: str, policy: LockPolicy, report: Reporter) -> Iterator[None]:
        self.lock_held = True  # apply and accept run under the deploy lock
        yield
        self.lock_held = False


@pytest.fixture
def clone(tmp_path: Path) -> Repo:
    """This repository as committed: what the plan hashes (git revisions) is real."""
    subprocess.run(["git", "clone", "-q", str(PROJECT.root), str(tmp_path / "lms")], check=True)
    return Repo(tmp_path / "lms")


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, clone: Repo) -> dict[str, Any]:
    counts: dict[str, Any] = {"plans": 0, "builds": 0, "targets": []}
    build_all = build_module._build_all

    def counting_select(*args: Any, **kwargs: Any) -> Any:
        counts["plans"] += 1  # plan_images calls select exactly once per plan
        return select(*args, **kwargs)

    def counting_build_all(*args: Any, **kwargs: Any) -> Any:
        counts["builds"] += 1  # build() calls _build_all exactly once per build
        return build_all(*args, **kwargs)

    def recording_target(repo: Repo, docker: Docker, env: Environment) -> RecordingTarget:
        target = RecordingTarget(env, docker)
        counts["targets"].append(target)
        return target

    monkeypatch.setattr(plan_module, "select", counting_select)
    monkeypatch.setattr(build_module, "_build_all", counting_build_all)
    monkeypatch.setattr(apply_module, "target_for", recording_target)
    monkeypatch.setattr(apply_module, "check_entry_point", lambda *args, **kwargs: None)
    monkeypatch.setattr(publish_module, "registry_up", lambda ctx, address: None)
    monkeypatch.setattr(publish_module, "attach_sboms", lambda *_: 0)  # syft and the registry: test_sbom_publish.py
    monkeypatch.setattr(build_module, "ensure_wheelhouse", lambda *_: None)  # pip download: no network here
    return counts


def engine_free(monkeypatch: pytest.MonkeyPatch) -> EngineFreeDocker:
    docker = EngineFreeDocker()
    os_id = docker.add_image("debian:bookworm-slim")
    monkeypatch.setattr(
        build_module, "bootstrap", lambda *_: BootstrapResult("debian:bookworm-slim", os_id, "debootstrap", False)
    )
    return docker


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_one_deploy_plans_once_and_builds_once(
    clone: Repo, counted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    docker = engine_free(monkeypatch)
    with throwaway_secrets(clone):
        result = apply_module.deploy(Context(clone, docker, Reporter(io.StringIO()), "offline"), env)
    assert (counted["plans"], counted["builds"]) == (1, 1)
    built_tags = [build["tags"][0] for build in docker.builds]
    assert len(built_tags) == len(set(built_tags)), "an image was built twice"
    [target] = counted["targets"]
    [model] = target.applied
    assert (
        sorted(result.changed)
        == sorted(model.services)
        == ["catalog", "enrollment", "gateway", "gateway-routes", "postgres"]
    )
    if env == "staging":  # deployed by the digests just pushed, which the same plan named
        pushed = {ref.rsplit(":", 1)[0] + "@" + digest for ref, digest in docker.registry.items()}
        images = {str(spec["image"]) for spec in model.document["services"].values()}
        assert images and images == pushed


def test_a_second_deploy_in_a_new_context_plans_again(
    clone: Repo, counted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan is cached per command, never across commands (the tree may have changed between)."""
    docker = engine_free(monkeypatch)
    for _ in range(2):
        apply_module.deploy(Context(clone, docker, Reporter(io.StringIO()), "offline"), "dev")
    assert (counted["plans"], counted["builds"]) == (2, 2)


def test_a_secret_that_cannot_be_read_stops_the_deploy_before_any_build_or_push(
    clone: Repo, counted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = engine_free(monkeypatch)
    with throwaway_secrets(clone):
        monkeypatch.delenv("LMSOPS_STAGING_CATALOG_DB_PASSWORD")
        with pytest.raises(ConfigError, match="LMSOPS_STAGING_CATALOG_DB_PASSWORD is not set"):
            apply_module.deploy(Context(clone, docker, Reporter(io.StringIO()), "offline"), "staging")
    assert (counted["builds"], docker.builds, counted["targets"]) == (0, [], [])
    assert docker.registry == {}, "nothing was pushed"


def test_a_deploy_from_a_registry_that_holds_every_image_builds_and_pushes_nothing(
    clone: Repo, counted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another machine published this commit: the registry's digests are used as they are."""
    docker = engine_free(monkeypatch)
    with throwaway_secrets(clone):
        apply_module.deploy(Context(clone, docker, Reporter(io.StringIO()), "offline"), "staging")
        first_builds, held = len(docker.builds), dict(docker.registry)
        pushes: list[str] = []
        monkeypatch.setattr(docker, "push", pushes.append)
        fresh = engine_free(monkeypatch)  # an engine that holds no image of this commit
        fresh._registry = held
        apply_module.deploy(Context(clone, fresh, Reporter(io.StringIO()), "offline"), "staging")
    assert first_builds > 0 and fresh.builds == [] and pushes == []
    [_, target] = counted["targets"]
    images = {str(spec["image"]) for spec in target.applied[0].document["services"].values()}
    assert images == {ref.rsplit(":", 1)[0] + "@" + digest for ref, digest in held.items()}
