"""Where the engine uses SBOMs: publishing attaches one next to every image it pushes (or finds
without one), a release names each service's SBOM, the upgrade report compares them. The registry
is tests/unit/test_sbom_registry.FakeRegistry; syft is a stand-in that makes an SBOM for whatever
image the engine has."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images import upgrade
from lmsops.images.facts import ImageFacts
from lmsops.releases import history
from lmsops.releases import publish as publish_module
from lmsops.releases.publish import publish
from lmsops.supply.cyclonedx import parse
from lmsops.supply.manifest import registry_image, sbom_tag
from lmsops.supply.oci import SbomRegistry
from lmsops.supply.syft import ImageNotHereError, Scan
from tests.unit.adapter_fakes import StubContext, SwarmConfigs, scripted_engine
from tests.unit.fakes import FakeDocker
from tests.unit.test_history import staging_model
from tests.unit.test_publish_record import planned
from tests.unit.test_sbom import deb, document, pypi
from tests.unit.test_sbom_registry import FakeRegistry, digest_of


class PushingDocker(FakeDocker):
    """An engine that pushes to the fake registry (docker push then knows the image by its digest, as
    RepoDigests do) and pulls from it."""

    def __init__(self, registry: FakeRegistry) -> None:
        super().__init__()
        self.registry = registry
        self.pushed: list[str] = []
        self.pulled: list[str] = []

    def registry_digest(self, reference: str) -> str | None:
        name, _, tag = reference.removeprefix(f"{self.registry.address}/").rpartition(":")
        found = self.registry.manifests.get((name, tag))
        return digest_of(found[1]) if found else None

    def push(self, reference: str) -> str:
        name, _, tag = reference.removeprefix(f"{self.registry.address}/").rpartition(":")
        image = self.registry.push_image(name, reference.encode())
        self.registry.manifests[(name, tag)] = self.registry.manifests[(name, image.digest)]
        self.images[str(image)] = self.images[reference]
        self.pushed.append(reference)
        return image.digest

    def pull(self, ref: str) -> None:
        self.pulled.append(ref)
        self.add_image(ref)


class Syft:
    """Scanner stand-in: an SBOM for any image the engine has (its name as a package), counted."""

    def __init__(self, docker: Docker, cache: Path) -> None:
        self.docker = docker
        SCANNED.clear()

    def scan(self, reference: str, name: str | None = None) -> Scan:
        image_id = self.docker.image_id(reference)
        if image_id is None:
            raise ImageNotHereError(f"image {reference} is not on this Docker engine")
        SCANNED.append(reference)
        package = reference.split("/")[-1].split("@")[0].split(":")[0]
        return Scan(parse(document([deb(package, "1.0")], image_id), reference), "scanned", 0.5)


SCANNED: list[str] = []


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRegistry]:
    monkeypatch.setattr(publish_module, "registry_up", lambda ctx, address: None)
    monkeypatch.setattr(publish_module, "Scanner", Syft)
    with FakeRegistry() as fake:
        yield fake
    assert fake.unexpected == []


def publishing(repo: Repo, registry: FakeRegistry, names: list[str]) -> tuple[StubContext, PushingDocker, io.StringIO]:
    docker = PushingDocker(registry)
    out = io.StringIO()
    ctx = StubContext(repo, docker, Reporter(out))
    ctx.planned = [planned(name) for name in names]
    for image in ctx.planned:
        docker.add_image(image.reference)
    return ctx, docker, out


def test_publish_attaches_the_sbom_of_every_image_it_pushes(tmp_path: Path, registry: FakeRegistry) -> None:
    ctx, docker, out = publishing(Repo(tmp_path), registry, ["catalog", "gateway"])

    published = publish(ctx, registry.address)

    client = SbomRegistry(registry.address)
    for reference in published.values():
        image = registry_image(reference)
        assert image is not None and client.find(image) is not None, f"{reference} has its SBOM"
        attached = client.attached(image)
        assert attached is not None and attached.document is not None
        assert parse(attached.document, "back").image_id == docker.image_id(reference)
    assert list(published.values()) == SCANNED, "the pushed images, by digest"
    text = out.getvalue()
    assert text.count(": SBOM attached ") == 2 and "(1 packages, scanned in 0.5 s)" in text
    assert f"publish: 2 images in {registry.address}, 2 pushed, 2 SBOMs attached" in text


def test_a_second_publish_finds_every_sbom_there_and_scans_nothing(tmp_path: Path, registry: FakeRegistry) -> None:
    ctx, _, _ = publishing(Repo(tmp_path), registry, ["catalog"])
    publish(ctx, registry.address)
    again, docker_again, out = publishing(Repo(tmp_path), registry, ["catalog"])

    publish(again, registry.address)

    assert (docker_again.pushed, SCANNED) == ([], [])
    assert f"1 image in {registry.address}, 0 pushed, 0 SBOMs attached" in out.getvalue()


def test_an_image_pushed_before_sboms_existed_gets_one_from_exactly_that_image(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    """The registry holds catalog (another machine pushed it) with no SBOM; this engine's catalog under
    the same tag may be another build: the image is pulled by its digest and that is scanned."""
    image = registry.push_image("lmsops/catalog", b"built elsewhere")
    registry.manifests[("lmsops/catalog", "0.1.0-cata")] = registry.manifests[("lmsops/catalog", image.digest)]
    ctx, docker, _ = publishing(Repo(tmp_path), registry, ["catalog"])

    publish(ctx, registry.address)

    assert (docker.pushed, docker.pulled, SCANNED) == ([], [str(image)], [str(image)])
    assert ("lmsops/catalog", sbom_tag(image.digest)) in registry.manifests


# --- the release record ---------------------------------------------------------------------------


def test_a_release_names_the_sbom_of_each_service_and_history_json_shows_it(
    registry: FakeRegistry, project: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, gateway = registry.push_image("lmsops/catalog", b"c"), registry.push_image("lmsops/gateway", b"g")
    sbom = parse(document([pypi("psycopg", "3.3.9")]), "test")
    attached = SbomRegistry(registry.address).attach(catalog, sbom)
    SwarmConfigs(scripted_engine(monkeypatch))

    release = history.record_release(
        Docker(), staging_model(project, {"catalog": str(catalog), "gateway": str(gateway)})
    )

    assert release.sboms == {"catalog": attached.reference}, "gateway has none in its registry: left out"
    [recorded] = history.releases(Docker(), "lms-staging")
    assert recorded.sboms == release.sboms, "kept in the swarm with the release"
    [row] = history.history_json(history.history_rows([recorded], {}))
    assert row["sboms"] == {"catalog": attached.reference}


def test_a_release_recorded_before_sboms_reads_back_without_them(
    project: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SwarmConfigs(scripted_engine(monkeypatch))
    history.record_release(Docker(), staging_model(project, {"catalog": "lmsops/catalog:1"}), sboms=lambda images: {})
    [config] = store.configs.values()
    data = json.loads(base64.b64decode(config["Spec"]["Data"]))
    del data["sboms"]  # as releases were written before they named SBOMs
    config["Spec"]["Data"] = base64.b64encode(json.dumps(data).encode()).decode()
    [release] = history.releases(Docker(), "lms-staging")
    assert release.sboms == {}
    assert history.history_json(history.history_rows([release], {}))[0]["sboms"] == {}


# --- the upgrade report ---------------------------------------------------------------------------


class Versions:
    """Scanner stand-in for the upgrade: image ID -> its SBOM, or an error."""

    def __init__(self, sboms: dict[str, bytes], error: Exception | None = None) -> None:
        self.sboms, self.error = sboms, error
        self.asked: list[tuple[str, str | None]] = []

    def scan(self, reference: str, name: str | None = None) -> Scan:
        self.asked.append((reference, name))
        if self.error:
            raise self.error
        return Scan(parse(self.sboms[reference], reference), "scanned")


def facts(reference: str, image_id: str) -> ImageFacts:
    return ImageFacts(reference, image_id, 1, "lmsops/python:3.11-1", "sha256:" + "0" * 64)


def test_the_upgrade_report_gives_the_sbom_difference_of_each_rebuilt_image() -> None:
    old, new = "sha256:" + hashlib.sha256(b"old").hexdigest(), "sha256:" + hashlib.sha256(b"new").hexdigest()
    scanner = Versions({
        old: document([deb("libssl3", "3.0.15-1"), deb("less", "590-2")]),
        new: document([deb("libssl3", "3.0.17-1"), pypi("uvicorn", "0.30.0")]),
    })  # fmt: skip
    line = upgrade.sbom_difference(scanner, facts("lmsops/catalog:0.1.0-a", old), facts("lmsops/catalog:0.1.0-b", new))  # type: ignore[arg-type]
    assert (
        line == "1 added, 1 removed, 1 at another version: +uvicorn 0.30.0, -less 590-2, libssl3 3.0.15-1 -> 3.0.17-1"
    )
    assert scanner.asked == [(old, "lmsops/catalog"), (new, "lmsops/catalog")], "by image ID, named as the image"
    same = Versions({old: document([deb("tini", "0.19")]), new: document([deb("tini", "0.19")])})
    assert upgrade.sbom_difference(same, facts("os", old), facts("debian:bookworm-slim", new)) == "no package changed"  # type: ignore[arg-type]
    assert same.asked[0] == (old, "debian"), "the OS root's old image is known by its ID: named as the new one"


def test_an_sbom_that_cannot_be_made_is_said_in_the_report_not_a_failed_upgrade() -> None:
    missing = Versions({}, PrerequisiteError("syft is not installed here. install it\nsecond line"))
    line = upgrade.sbom_difference(missing, None, facts("lmsops/catalog:1", "sha256:" + "1" * 64))  # type: ignore[arg-type]
    assert line == "not compared (syft is not installed here. install it)"
