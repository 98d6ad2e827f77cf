"""lmsops.supply's pure parts: reading syft's CycloneDX JSON, finding a package across images, the
difference of two SBOMs, and the manifest that attaches an SBOM to its image in a registry.

RECORDED is syft 1.18.1's SBOM of lmsops/catalog (`syft scan docker-archive:catalog.tar -o
cyclonedx-json`), cut to a few components of each kind with their fields as syft wrote them (its
per-package properties and CPEs left out): a Debian package with two licences, two whose copyright
file is not machine-readable (no licence), Python packages with an SPDX id or only a licence name,
and the operating system, which has no purl and is not a package."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from lmsops.core.errors import ConfigError
from lmsops.supply.cyclonedx import MEDIA_TYPE, Component, Sbom, normalise, parse
from lmsops.supply.diff import sbom_diff
from lmsops.supply.find import Holder, find
from lmsops.supply.manifest import (
    EMPTY_CONFIG,
    OCI_MANIFEST,
    Descriptor,
    RegistryImage,
    SbomError,
    attach_manifest,
    registry_image,
    sbom_layer,
    sbom_tag,
)
from lmsops.supply.syft import repository_of

IMAGE_ID = "sha256:ec7b212df75f2e09527d58551cc81ed7c92f721887fae70862382d7ea80a831b"


def deb(name: str, version: str, *licences: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "library", "name": name, "version": version,
                             "purl": f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"}  # fmt: skip
    if licences:
        entry["licenses"] = [{"license": {"id": licence}} for licence in licences]
    return entry


def pypi(name: str, version: str, licence: dict[str, str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "library", "name": name, "version": version, "purl": f"pkg:pypi/{name}@{version}"}
    if licence:
        entry["licenses"] = [{"license": licence}]
    return entry


RECORDED: dict[str, Any] = {
    "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "serialNumber": "urn:uuid:1a5692bc-859a-47ac-8cdb-7f79c7cde11b",
    "version": 1,
    "metadata": {
        "timestamp": "2026-11-27T17:57:08Z",
        "tools": {"components": [{"type": "application", "author": "anchore", "name": "syft", "version": "1.18.1"}]},
        "component": {
            "bom-ref": "5fa22f646661fc67",
            "type": "container",
            "name": "lmsops/catalog",
            "version": IMAGE_ID,
        },
    },
    "components": [
        deb("adduser", "3.134", "GPL-2.0-only", "GPL-2.0-or-later"),
        deb("libcrypt1", "1:4.4.33-2"),
        pypi("psycopg", "3.3.9", {"id": "LGPL-3.0-only"}),
        pypi("psycopg-binary", "3.3.9", {"id": "LGPL-3.0-only"}),
        deb("python3", "3.11.2-1+b1"),
        pypi("typing-extensions", "4.16.0", {"id": "PSF-2.0"}),
        pypi("uvloop", "0.23.0", {"name": "MIT License"}),
        deb("zlib1g", "1:1.2.13.dfsg-1", "Zlib"),
        {"bom-ref": "os:debian@12", "type": "operating-system", "name": "debian", "version": "12"},
    ],
}


def document(components: list[dict[str, Any]], image_id: str = IMAGE_ID) -> bytes:
    data = json.loads(json.dumps(RECORDED))
    data["components"] = components
    data["metadata"]["component"]["version"] = image_id
    return json.dumps(data).encode()


def sbom_of(*components: dict[str, Any]) -> Sbom:
    return parse(document(list(components)), "test")


# --- reading ------------------------------------------------------------------------------------


def test_a_syft_sbom_gives_every_package_with_its_type_version_and_licences() -> None:
    raw = json.dumps(RECORDED).encode()
    sbom = parse(raw, "catalog.cdx.json")
    named = {component.name: component for component in sbom.components}
    assert len(sbom.components) == len(RECORDED["components"]) - 1, "the operating system is not a package"
    assert named["adduser"] == Component(
        "deb", "adduser", "3.134", ("GPL-2.0-only", "GPL-2.0-or-later"), RECORDED["components"][0]["purl"]
    )
    assert (named["psycopg"].kind, named["psycopg"].licences) == ("pypi", ("LGPL-3.0-only",))
    assert named["uvloop"].licences == ("MIT License",), "a licence without an SPDX id keeps its name"
    assert named["libcrypt1"].licences == named["python3"].licences == ()
    assert sbom.licensed() == len(sbom.components) - 2
    assert (sbom.image_id, sbom.tool, sbom.created) == (IMAGE_ID, "syft 1.18.1", "2026-11-27T17:57:08Z")
    assert sbom.document == raw and sbom.digest == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_a_licence_expression_is_kept_as_written_and_repeated_licences_once() -> None:
    component = deb("libgcrypt20", "1.10.1-3")
    component["licenses"] = [{"expression": "GPL-2.0-or-later OR LGPL-2.1-or-later"}, {"license": {"id": "MIT"}},
                             {"license": {"id": "MIT"}}, "not a licence entry"]  # fmt: skip
    assert sbom_of(component).components[0].licences == ("GPL-2.0-or-later OR LGPL-2.1-or-later", "MIT")


def test_cyclonedx_1_4_tools_as_a_list_are_read_too() -> None:
    data = json.loads(document([]))
    data["metadata"]["tools"] = [{"vendor": "anchore", "name": "syft", "version": "0.99.0"}]
    assert parse(json.dumps(data).encode(), "old").tool == "syft 0.99.0"


@pytest.mark.parametrize(
    ("raw", "says"),
    [(b"{not json", "not JSON"), (b'{"spdxVersion": "SPDX-2.3"}', "not a CycloneDX document"), (b"[]", "CycloneDX")],
)
def test_anything_but_cyclonedx_json_is_refused_naming_where_it_came_from(raw: bytes, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^sboms/x.json: .*{says}"):
        parse(raw, "sboms/x.json")


def test_python_names_compare_as_python_does() -> None:
    assert normalise("Typing_Extensions") == normalise("typing.extensions") == "typing-extensions"
    assert normalise("psycopg-binary") != normalise("psycopg")


# --- find ---------------------------------------------------------------------------------------


def test_find_lists_every_service_with_the_package_and_every_one_without_it() -> None:
    catalog = Holder("catalog", "lmsops/catalog:1", sbom_of(pypi("psycopg", "3.3.9", {"id": "LGPL-3.0-only"})))
    enrollment = Holder("enrollment", "lmsops/enrollment:1", sbom_of(pypi("Psycopg", "3.2.0")))
    gateway = Holder("gateway", "lmsops/gateway:1", sbom_of(pypi("psycopg-binary", "3.3.9"), deb("haproxy", "2.6")))

    result = find("psycopg", [catalog, enrollment, gateway])

    assert [(hit.label, hit.component.version) for hit in result.found] == [
        ("catalog", "3.3.9"),
        ("enrollment", "3.2.0"),
    ]
    assert result.absent == [("gateway", "lmsops/gateway:1")], "psycopg-binary is another package"
    assert result.table() == [
        ("SERVICE", "IMAGE", "PACKAGE", "TYPE", "VERSION", "LICENCES"),
        ("catalog", "lmsops/catalog:1", "psycopg", "pypi", "3.3.9", "LGPL-3.0-only"),
        ("enrollment", "lmsops/enrollment:1", "Psycopg", "pypi", "3.2.0", "-"),
        ("gateway", "lmsops/gateway:1", "psycopg", "", "not present", ""),
    ]


def test_a_package_at_two_versions_in_one_image_is_two_rows() -> None:
    holder = Holder("catalog", "c", sbom_of(pypi("idna", "3.20"), deb("idna", "1.0"), pypi("idna", "2.0")))
    rows = [(hit.component.kind, hit.component.version) for hit in find("IDNA", [holder]).found]
    assert rows == [("deb", "1.0"), ("pypi", "2.0"), ("pypi", "3.20")]


def test_a_package_no_image_has_is_an_answer_with_every_image_listed() -> None:
    holders = [Holder(name, f"lmsops/{name}:1", sbom_of(deb("tini", "0.19"))) for name in ("python", "postgres")]
    result = find("haproxy", holders)
    assert (result.found, [label for label, _ in result.absent]) == ([], ["python", "postgres"])


# --- diff ---------------------------------------------------------------------------------------


def test_the_difference_of_two_sboms_is_added_removed_and_changed_packages() -> None:
    before = sbom_of(deb("libssl3", "3.0.15-1"), deb("less", "590-2"), pypi("uvicorn", "0.30.0"), deb("tini", "0.19"))
    after = sbom_of(deb("libssl3", "3.0.17-1"), pypi("uvicorn", "0.30.0"), deb("tini", "0.19"), pypi("less", "1.0"))

    difference = sbom_diff(before.components, after.components)

    assert [change.text() for change in difference.added] == ["+less 1.0"], "a Python less is not the deb less"
    assert [change.text() for change in difference.removed] == ["-less 590-2"]
    assert [change.text() for change in difference.changed] == ["libssl3 3.0.15-1 -> 3.0.17-1"]
    assert difference.summary() == "+less 1.0, -less 590-2, libssl3 3.0.15-1 -> 3.0.17-1"
    assert difference.counts() == "1 added, 1 removed, 1 at another version"
    assert difference


def test_identical_sboms_differ_in_nothing_and_several_versions_compare_as_a_set() -> None:
    twice = [pypi("idna", "3.20"), pypi("idna", "2.0")]
    same = sbom_diff(sbom_of(*twice).components, sbom_of(*reversed(twice)).components)
    assert not same and same.summary() == "none"
    one_gone = sbom_diff(sbom_of(*twice).components, sbom_of(pypi("idna", "3.20")).components)
    assert [change.text() for change in one_gone.changed] == ["idna 2.0, 3.20 -> 3.20"]


# --- the attach manifest and references ----------------------------------------------------------

IMAGE_DIGEST = "sha256:" + "ab" * 32


def test_the_sbom_tag_is_the_image_digest_in_cosigns_scheme() -> None:
    assert sbom_tag(IMAGE_DIGEST) == "sha256-" + "ab" * 32 + ".sbom"
    with pytest.raises(SbomError, match="not a sha256 image digest"):
        sbom_tag("sha256:short")


def test_the_attach_manifest_names_the_image_as_subject_and_the_sbom_as_its_one_layer() -> None:
    subject = Descriptor("application/vnd.docker.distribution.manifest.v2+json", IMAGE_DIGEST, 1234)
    sbom = Descriptor.of(MEDIA_TYPE, document([]))
    raw = attach_manifest(subject, sbom, {"org.lmsops.sbom.tool": "syft 1.18.1"})
    manifest = json.loads(raw)
    assert manifest["mediaType"] == OCI_MANIFEST and manifest["schemaVersion"] == 2
    assert manifest["artifactType"] == MEDIA_TYPE
    assert manifest["subject"] == {"mediaType": subject.media_type, "digest": IMAGE_DIGEST, "size": 1234}
    assert manifest["layers"] == [{"mediaType": MEDIA_TYPE, "digest": sbom.digest, "size": len(document([]))}]
    assert manifest["config"] == {"mediaType": "application/vnd.oci.empty.v1+json",
                                  "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2}  # fmt: skip
    assert EMPTY_CONFIG.as_json() == manifest["config"]
    assert manifest["annotations"] == {"org.lmsops.sbom.tool": "syft 1.18.1"}
    assert sbom_layer(raw, IMAGE_DIGEST, "here") == sbom, "what is attached reads back as the same blob"


def _manifest(**changes: Any) -> bytes:
    subject = Descriptor(OCI_MANIFEST, IMAGE_DIGEST, 10)
    manifest = json.loads(attach_manifest(subject, Descriptor.of(MEDIA_TYPE, b"{}"), {}))
    manifest.update(changes)
    return json.dumps(manifest).encode()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"<html>", "not JSON"),
        (_manifest(artifactType="application/spdx+json"), "not an SBOM"),
        (_manifest(subject={"digest": "sha256:" + "cd" * 32}), "attached to sha256:cdcd"),
        (_manifest(subject=None), "attached to None"),
        (_manifest(layers=[]), "expected one layer"),
        (_manifest(layers=[{"mediaType": MEDIA_TYPE, "digest": "md5:x", "size": 1}]), "expected one layer"),
    ],
)
def test_a_manifest_that_is_not_this_images_sbom_is_refused(raw: bytes, says: str) -> None:
    with pytest.raises(SbomError, match=f"^reg/lmsops/catalog: .*{says}"):
        sbom_layer(raw, IMAGE_DIGEST, "reg/lmsops/catalog")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (
            f"127.0.0.1:5000/lmsops/catalog@{IMAGE_DIGEST}",
            RegistryImage("127.0.0.1:5000", "lmsops/catalog", IMAGE_DIGEST),
        ),
        (f"ghcr.io/org/lms/catalog:0.1.0@{IMAGE_DIGEST}", RegistryImage("ghcr.io", "org/lms/catalog", IMAGE_DIGEST)),
        (f"localhost/catalog@{IMAGE_DIGEST}", RegistryImage("localhost", "catalog", IMAGE_DIGEST)),
        ("127.0.0.1:5000/lmsops/catalog:0.1.0-abc", None),  # a tag: no digest to attach to
        (f"lmsops/catalog@{IMAGE_DIGEST}", None),  # no registry host: a Docker Hub name
        ("127.0.0.1:5000/lmsops/catalog@sha256:short", None),
    ],
)
def test_only_a_registry_digest_reference_names_an_sbom_to_look_up(reference: str, expected: object) -> None:
    image = registry_image(reference)
    assert image == expected
    if image is not None:
        assert registry_image(str(image)) == image


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("lmsops/catalog:0.1.0-abc", "lmsops/catalog"),
        (f"127.0.0.1:5000/lmsops/catalog@{IMAGE_DIGEST}", "lmsops/catalog"),
        ("localhost:5000/lmsops/python:3.11-1", "lmsops/python"),
        ("debian:bookworm-slim", "debian"),
    ],
)
def test_an_sbom_names_its_image_by_repository_wherever_it_is_stored(reference: str, repository: str) -> None:
    assert repository_of(reference) == repository
