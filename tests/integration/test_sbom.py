"""SBOMs of real images, made by the real syft, and carried by the real loopback registry.

Two images are scanned (catalog and gateway): syft is checked against what the images' own dpkg and
Python report, `sbom --find` against packages that are in one service and not the other, publish's
SBOM is read back from the registry by digest, and a fresh push attaches one and reads it back, every
byte checked. The registry is the run's (tests/engine_state.py): publish's tags go when the run
removes it; the fresh push goes to a repository of this test, deleted afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.build import Built
from lmsops.images.context import Context
from lmsops.images.facts import debian_packages, image_facts
from lmsops.releases.publish import publish
from lmsops.supply.cyclonedx import MEDIA_TYPE, normalise, parse
from lmsops.supply.lookup import ensure_attached, registries, sbom_references
from lmsops.supply.manifest import RegistryImage, registry_image, sbom_tag, sha256
from lmsops.supply.oci import SbomRegistry
from lmsops.supply.syft import Scanner
from tests.conftest import worker_suffix

pytestmark = pytest.mark.integration

REGISTRY = "127.0.0.1:5000"  # lmsops's loopback registry, started for the test run (tests/engine_state.py)


def lmsops(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmsops", *args], cwd=repo.root, capture_output=True, text=True, timeout=300, check=False
    )


def test_syft_lists_the_debian_and_python_packages_the_image_itself_reports(
    docker: Docker, platform_images: dict[str, Built], tmp_path: Path
) -> None:
    """A scan of its own (a fresh cache: syft really runs), compared with dpkg-query and Python's
    importlib.metadata run inside the image (lmsops.images.facts)."""
    reference = platform_images["catalog"].reference
    scanner = Scanner(docker, tmp_path / "sbom")

    scan = scanner.scan(reference)

    assert scan.source == "scanned" and scan.sbom.image_id == docker.image_id(reference)
    debs = {c.name: c.version for c in scan.sbom.components if c.kind == "deb"}
    assert debs == debian_packages(docker, reference), "every Debian package, at the version dpkg has"
    facts = image_facts(docker, reference)
    assert facts is not None
    pythons = {normalise(c.name): c.version for c in scan.sbom.components if c.kind == "pypi"}
    assert pythons == {normalise(name): version for name, version in facts.python.items()}
    unlicensed = sorted(c.name for c in scan.sbom.components if c.kind == "pypi" and not c.licences)
    assert unlicensed == [], "every Python package has its licence from its metadata"
    assert scan.sbom.licensed() > len(scan.sbom.components) // 2, "most Debian packages from their copyright file"
    again = scanner.scan(reference)
    assert (again.source, again.sbom.document) == ("cache", scan.sbom.document), "one scan per image ID"


def test_find_names_the_services_with_a_package_and_those_without(
    repo: Repo, platform_images: dict[str, Built]
) -> None:
    catalog, gateway = platform_images["catalog"].reference, platform_images["gateway"].reference

    psycopg = lmsops(repo, "sbom", "catalog", "gateway", "--find", "psycopg", "--json")
    haproxy = lmsops(repo, "sbom", "catalog", "gateway", "--find", "haproxy")
    nowhere = lmsops(repo, "sbom", "catalog", "gateway", "--find", "no-such-package")

    assert psycopg.returncode == 0, psycopg.stderr
    answer = json.loads(psycopg.stdout)
    assert [(hit["name"], hit["image"], hit["type"]) for hit in answer["found"]] == [("catalog", catalog, "pypi")]
    assert answer["absent"] == [{"name": "gateway", "image": gateway}]
    assert haproxy.returncode == 0, haproxy.stderr
    rows = [line.split() for line in haproxy.stdout.splitlines()]
    assert rows[1][:4] == ["gateway", gateway, "haproxy", "deb"], "where it is first"
    assert rows[2] == ["catalog", catalog, "haproxy", "not", "present"], "then where it is not"
    assert rows[-1] == ["haproxy:", "in", "1", "of", "2", "images"]
    assert nowhere.returncode == 1 and "no-such-package: in 0 of 2 images" in nowhere.stdout


def test_a_bad_image_name_is_one_line_and_exit_2(repo: Repo, tmp_path: Path) -> None:
    result = lmsops(repo, "sbom", "catalog", "no-such-image", "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "'no-such-image' is neither an environment of env/" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_sbom_is_pushed_with_the_image_and_read_back_by_digest(
    repo: Repo, docker: Docker, platform_images: dict[str, Built]
) -> None:
    published = publish(Context(repo, docker, Reporter(), "offline"), REGISTRY, only={"gateway"})
    image = registry_image(published[platform_images["gateway"].reference])
    assert image is not None and image.registry == REGISTRY

    client = SbomRegistry(REGISTRY)
    digest = client.find(image)
    assert digest is not None, "publish attached the gateway's SBOM"
    attached = client.read(image, digest)  # the manifest's and the blob's sha256 checked on the way
    assert attached.document is not None
    back, local = parse(attached.document, attached.reference), Scanner(docker, repo.work / "sbom").scan(str(image))
    # Made from exactly this image (its ID), perhaps by another machine's scan (its own timestamp and serial).
    assert back.image_id == docker.image_id(str(image)) == local.sbom.image_id
    assert sorted(back.components, key=str) == sorted(local.sbom.components, key=str)

    # The registry's own answer, as any OCI client reads it: the tag named after the image's digest.
    url = f"http://{REGISTRY}/v2/{image.repository}/manifests/{sbom_tag(image.digest)}"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        raw = response.read()
    assert sha256(raw) == digest
    manifest = json.loads(raw)
    assert (manifest["artifactType"], manifest["subject"]["digest"]) == (MEDIA_TYPE, image.digest)
    assert sbom_references({"gateway": str(image)}, registries()) == {"gateway": attached.reference}, (
        "what a release of this image records"
    )


def _delete(repository: str, digest: str) -> None:
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{repository}/manifests/{digest}", method="DELETE")
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (loopback)
        pass


@pytest.fixture
def scratch_repository(docker: Docker) -> Iterator[str]:
    """A repository of this test in the run's registry; its manifests and the local tag removed after."""
    repository = f"lmsops-it{worker_suffix()}/sbom"
    yield repository
    for tag in [t for t in docker.image_tags() if t.startswith(f"{REGISTRY}/{repository}:")]:
        digest = docker.registry_digest(tag)
        if digest:
            image = RegistryImage(REGISTRY, repository, digest)
            sbom = SbomRegistry(REGISTRY).find(image)
            for manifest in [sbom, digest] if sbom else [digest]:
                _delete(repository, manifest)
        docker.remove_image(tag)


def test_a_fresh_push_gets_its_sbom_attached_and_read_back_byte_for_byte(
    repo: Repo, docker: Docker, platform_images: dict[str, Built], scratch_repository: str
) -> None:
    remote = f"{REGISTRY}/{scratch_repository}:gateway"
    docker.tag(platform_images["gateway"].reference, remote)
    image = RegistryImage(REGISTRY, scratch_repository, docker.push(remote))
    client, scanner = SbomRegistry(REGISTRY), Scanner(docker, repo.work / "sbom")
    assert client.find(image) is None

    attached, scan = ensure_attached(docker, scanner, client, image)

    assert scan is not None and attached.document == scan.sbom.document, "pushed now, from this engine's scan"
    again = SbomRegistry(REGISTRY).read(image, attached.manifest_digest)
    assert again.document == scan.sbom.document and sha256(again.document) == scan.sbom.digest
