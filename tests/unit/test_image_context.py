"""A command's context (lmsops.images.context): a tool image is built with the bases it needs and
nothing else, from the one plan; after the full build the same results are handed out again."""

from __future__ import annotations

import re

import pytest

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.images import context as context_module
from lmsops.images.context import Context
from lmsops.images.plan import PlannedImage, plan_images
from lmsops.images.versions import Versions
from tests.unit.image_fakes import ImageDocker, add_service, fake_os_root, reporter


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> ImageDocker:
    fake = ImageDocker()
    fake_os_root(monkeypatch, fake)
    return fake


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the plans the context computes."""
    calls: list[int] = []

    def counted(repo: Repo, versions: Versions, names: list[str] | None = None) -> list[PlannedImage]:
        calls.append(1)
        return plan_images(repo, versions, names)

    monkeypatch.setattr(context_module, "plan_images", counted)
    return calls


def built_names(docker: ImageDocker) -> list[str]:
    return [build["tags"][0].split(":")[0].removeprefix("lmsops/") for build in docker.builds]


def test_build_only_builds_the_named_image_and_its_bases(repo: Repo, docker: ImageDocker, plans: list[int]) -> None:
    """python-build needs python: both are built, postgres and the services are not; only the named
    image is returned, and the plan is computed once for build_only and reference alike."""
    add_service(repo, "catalog")
    ctx = Context(repo, docker, reporter()[0])
    results = ctx.build_only(["python-build"])
    assert built_names(docker) == ["python", "python-build"]
    assert [(r.name, r.built) for r in results] == [("python-build", True)]
    assert results[0].reference == ctx.reference("python-build")
    assert re.fullmatch(r"lmsops/python-build:3\.11-1-[0-9a-f]{12}", results[0].reference)
    assert len(plans) == 1


def test_after_the_full_build_build_only_hands_out_its_results(repo: Repo, docker: ImageDocker) -> None:
    """Once ctx.build() ran, build_only builds nothing more and returns the same results, in plan order."""
    ctx = Context(repo, docker, reporter()[0])
    everything = ctx.build()
    builds = len(docker.builds)
    picked = ctx.build_only(["postgres", "python"])
    assert len(docker.builds) == builds
    assert picked == [built for built in everything if built.name in ("python", "postgres")]
    assert [built.name for built in picked] == ["python", "postgres"]


def test_unknown_images_are_refused_before_anything_is_built(repo: Repo, docker: ImageDocker) -> None:
    """A name that is neither a base nor a service is one clear error, for build_only and reference."""
    ctx = Context(repo, docker, reporter()[0])
    with pytest.raises(ConfigError, match=r"no image registry, swarm-node in base-images/ or services/"):
        ctx.build_only(["python", "registry", "swarm-node"])
    with pytest.raises(ConfigError, match=r"no image 'registry' in base-images/ or services/"):
        ctx.reference("registry")
    assert docker.builds == []
