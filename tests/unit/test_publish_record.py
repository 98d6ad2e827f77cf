"""Publishing asks the registry first (lmsops.releases.publish): an image it holds under this commit's
content tag is neither built nor pushed; only what it lacks is built (once) and pushed; a registry
that cannot be answered stops everything before any build."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from lmsops.core.gitinfo import SourceInfo
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.discovery import ImageSpec
from lmsops.images.plan import PlannedImage
from lmsops.releases import publish as publish_module
from lmsops.releases.publish import publish
from tests.unit.adapter_fakes import StubContext
from tests.unit.fakes import FakeDocker

ADDRESS = "127.0.0.1:5000"


class Registry(FakeDocker):
    """The registry's tags, and what was pushed to it."""

    def __init__(self, held: dict[str, str] | None = None, reachable: bool = True) -> None:
        super().__init__()
        self.held = dict(held or {})
        self.pushed: list[str] = []
        self.reachable = reachable

    def registry_digest(self, reference: str) -> str | None:
        if not self.reachable:
            raise CommandError(["docker", "manifest", "inspect", reference], 1, "connection refused")
        return self.held.get(reference)

    def push(self, reference: str) -> str:
        digest = "sha256:" + hashlib.sha256(reference.encode()).hexdigest()
        self.pushed.append(reference)
        self.held[reference] = digest
        return digest


def planned(name: str) -> PlannedImage:
    folder = Path("/lms/services") / name
    spec = ImageSpec(name, "service", folder, folder / "Dockerfile", "0.1.0", name, ("python",), ())
    return PlannedImage(spec, name[:4], f"lmsops/{name}:0.1.0-{name[:4]}", SourceInfo("abc", "file:///lms"), {})


@pytest.fixture(autouse=True)
def no_registry_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish_module, "registry_up", lambda ctx, address: None)
    # The SBOMs that travel with the images: tests/unit/test_sbom_publish.py.
    monkeypatch.setattr(publish_module, "attach_sboms", lambda ctx, address, wanted, published: 0)


def context(repo: Repo, docker: Docker, names: list[str]) -> tuple[StubContext, io.StringIO]:
    out = io.StringIO()
    ctx = StubContext(repo, docker, Reporter(out))
    ctx.planned = [planned(name) for name in names]
    for image in ctx.planned:  # what build_only would have built (StubContext only records the call)
        assert isinstance(docker, FakeDocker)
        docker.add_image(image.reference)
    return ctx, out


def test_images_the_registry_holds_are_neither_built_nor_pushed(tmp_path: Path) -> None:
    held = {f"{ADDRESS}/lmsops/catalog:0.1.0-cata": "sha256:" + "a" * 64}
    registry = Registry(held)
    ctx, out = context(Repo(tmp_path), registry, ["catalog", "gateway"])

    published = publish(ctx, ADDRESS)

    assert ctx.built_only == [["gateway"]] and ctx.builds == 0, "only what the registry lacks is built"
    assert registry.pushed == [f"{ADDRESS}/lmsops/gateway:0.1.0-gate"]
    assert published["lmsops/catalog:0.1.0-cata"] == f"{ADDRESS}/lmsops/catalog@sha256:" + "a" * 64
    assert published["lmsops/gateway:0.1.0-gate"] == (
        f"{ADDRESS}/lmsops/gateway@" + registry.held[f"{ADDRESS}/lmsops/gateway:0.1.0-gate"]
    )
    assert f"{ADDRESS}: 1 of 2 images already there; building and pushing gateway" in out.getvalue()


def test_a_registry_that_holds_everything_means_no_build_and_no_push(tmp_path: Path) -> None:
    registry = Registry({f"{ADDRESS}/lmsops/{n}:0.1.0-{n[:4]}": "sha256:" + "b" * 64 for n in ("catalog", "postgres")})
    ctx, out = context(Repo(tmp_path), registry, ["catalog", "postgres"])
    publish(ctx, ADDRESS)
    assert (ctx.built_only, ctx.builds, registry.pushed) == ([], 0, [])
    assert "2 of 2 images already there: nothing to build or push" in out.getvalue()


def test_only_the_images_asked_for_are_published_and_never_the_registrys_own(tmp_path: Path) -> None:
    registry = Registry()
    ctx, _out = context(Repo(tmp_path), registry, ["catalog", "python", "registry"])
    publish(ctx, ADDRESS, only={"catalog", "registry"})
    assert registry.pushed == [f"{ADDRESS}/lmsops/catalog:0.1.0-cata"]


def test_a_registry_that_does_not_answer_stops_publishing_before_any_build(tmp_path: Path) -> None:
    registry = Registry(reachable=False)
    ctx, _out = context(Repo(tmp_path), registry, ["catalog"])
    with pytest.raises(CommandError, match="connection refused"):
        publish(ctx, ADDRESS)
    assert (ctx.built_only, registry.pushed) == ([], [])
