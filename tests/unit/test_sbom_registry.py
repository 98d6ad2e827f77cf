"""lmsops.supply.oci and lookup: an SBOM pushed next to its image, found by the image's digest, read
back with every byte checked; where an SBOM comes from (this engine, else the registry).

FakeRegistry is the distribution API as Debian's docker-registry 2.8 answers it (blob uploads with a
Location, manifests by tag and by digest, Docker-Content-Digest), served in this process on a free
loopback port; any other request is answered 400 and recorded, so a test fails on it. The real
registry is tests/integration/test_sbom.py's."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.supply import lookup
from lmsops.supply.cyclonedx import parse
from lmsops.supply.lookup import ensure_attached, registries, sbom_of, sbom_references
from lmsops.supply.manifest import DOCKER_MANIFEST, RegistryImage, SbomError, sbom_tag
from lmsops.supply.oci import Attached, SbomRegistry, is_loopback
from lmsops.supply.syft import ImageNotHereError, Scan
from tests.ports import free_port
from tests.unit.fakes import FakeDocker
from tests.unit.test_sbom import document, pypi

ROUTE = re.compile(r"^/v2/(?P<repo>.+)/(?P<kind>blobs|manifests)/(?P<ref>[^/?]+)$")
UPLOAD = re.compile(r"^/v2/(?P<repo>.+)/blobs/uploads/(?P<session>[0-9a-f]*)$")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """Blobs and manifests per repository, in memory."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}  # (repo, tag or digest) -> type, bytes
        self.unexpected: list[str] = []
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())  # a free port, bound at once
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def push_image(self, repository: str, content: bytes = b'{"layers": []}') -> RegistryImage:
        """An image manifest as `docker push` leaves it (Docker's v2 schema 2 type)."""
        digest = digest_of(content)
        self.manifests[(repository, digest)] = (DOCKER_MANIFEST, content)
        return RegistryImage(self.address, repository, digest)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _refuse(self) -> None:
                registry.unexpected.append(f"{self.command} {self.path}")
                self._send(400, b'{"errors": [{"code": "UNSUPPORTED"}]}')

            def do_GET(self) -> None:
                registry.requests.append(f"GET {self.path}")
                if self.path == "/v2/":
                    return self._send(200, b"{}")
                route = ROUTE.match(self.path)
                if not route:
                    return self._refuse()
                repo, kind, ref = route["repo"], route["kind"], route["ref"]
                if kind == "blobs":
                    blob = registry.blobs.get(ref)
                    return self._send(404) if blob is None else self._send(200, blob)
                found = registry.manifests.get((repo, ref))
                if found is None:
                    return self._send(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')
                media_type, raw = found
                return self._send(200, raw, {"Content-Type": media_type, "Docker-Content-Digest": digest_of(raw)})

            def do_HEAD(self) -> None:
                self.do_GET()  # the same answer without its body (_send)

            def do_POST(self) -> None:
                upload = UPLOAD.match(self.path)
                if not upload or upload["session"]:
                    return self._refuse()
                self._send(202, headers={"Location": f"/v2/{upload['repo']}/blobs/uploads/{uuid.uuid4().hex}"})

            def do_PUT(self) -> None:
                path, _, query = self.path.partition("?")
                upload, route, body = UPLOAD.match(path), ROUTE.match(path), self._body()
                if upload and upload["session"] and query.startswith("digest="):
                    digest = query.removeprefix("digest=").replace("%3A", ":")
                    if digest != digest_of(body):
                        return self._send(400, b'{"errors": [{"code": "DIGEST_INVALID"}]}')
                    registry.blobs[digest] = body
                    return self._send(201, headers={"Docker-Content-Digest": digest})
                if route and route["kind"] == "manifests":
                    media_type = self.headers.get("Content-Type", "")
                    for ref in (route["ref"], digest_of(body)):
                        registry.manifests[(route["repo"], ref)] = (media_type, body)
                    return self._send(201, headers={"Docker-Content-Digest": digest_of(body)})
                return self._refuse()

        return Handler

    def __enter__(self) -> FakeRegistry:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        yield fake
    assert fake.unexpected == [], "lmsops asked the registry something it does not serve"


SBOM = parse(document([pypi("psycopg", "3.3.9")], "sha256:" + "5e" * 32), "test")


def test_an_sbom_is_pushed_next_to_its_image_and_read_back_by_digest(registry: FakeRegistry) -> None:
    image = registry.push_image("lmsops/catalog")
    client = SbomRegistry(registry.address)
    assert client.find(image) is None, "nothing attached yet"

    attached = client.attach(image, SBOM)

    tag = sbom_tag(image.digest)
    media_type, raw = registry.manifests[("lmsops/catalog", tag)]
    assert attached.manifest_digest == digest_of(raw) and attached.document == SBOM.document
    assert attached.reference == f"{registry.address}/lmsops/catalog@{digest_of(raw)}"
    manifest = json.loads(raw)
    assert media_type == manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["subject"] == {"mediaType": DOCKER_MANIFEST, "digest": image.digest,
                                   "size": len(registry.manifests[("lmsops/catalog", image.digest)][1])}  # fmt: skip
    assert manifest["layers"][0]["digest"] == SBOM.digest and registry.blobs[SBOM.digest] == SBOM.document
    assert manifest["annotations"] == {
        "org.lmsops.sbom.tool": "syft 1.18.1",
        "org.lmsops.image.id": SBOM.image_id,
        "org.opencontainers.image.created": SBOM.created,
    }
    assert client.find(image) == attached.manifest_digest
    assert SbomRegistry(registry.address).attached(image) == attached, "another client reads the same back"


def test_an_sbom_for_an_image_the_registry_does_not_hold_is_refused(registry: FakeRegistry) -> None:
    missing = RegistryImage(registry.address, "lmsops/catalog", "sha256:" + "0" * 64)
    with pytest.raises(SbomError, match=f"has no image {re.escape(str(missing))}; push the image first"):
        SbomRegistry(registry.address).attach(missing, SBOM)
    assert registry.blobs == {}


def test_a_blob_that_is_not_what_its_manifest_names_is_refused_on_reading(registry: FakeRegistry) -> None:
    image = registry.push_image("lmsops/catalog")
    client = SbomRegistry(registry.address)
    attached = client.attach(image, SBOM)
    registry.blobs[SBOM.digest] = SBOM.document.replace(b"psycopg", b"psycopf")
    with pytest.raises(SbomError, match="the SBOM blob is not the one its manifest names"):
        client.read(image, attached.manifest_digest)


def test_a_manifest_whose_bytes_are_not_its_digest_is_refused(registry: FakeRegistry) -> None:
    image = registry.push_image("lmsops/catalog")
    client = SbomRegistry(registry.address)
    attached = client.attach(image, SBOM)
    media_type, raw = registry.manifests[("lmsops/catalog", attached.manifest_digest)]
    registry.manifests[("lmsops/catalog", attached.manifest_digest)] = (media_type, raw + b" ")
    with pytest.raises(SbomError, match="the manifest's bytes have the digest"):
        client.read(image, attached.manifest_digest)


def test_an_sbom_tag_attached_to_another_image_is_refused(registry: FakeRegistry) -> None:
    one, other = registry.push_image("lmsops/catalog", b"one"), registry.push_image("lmsops/catalog", b"other")
    client = SbomRegistry(registry.address)
    client.attach(one, SBOM)
    registry.manifests[("lmsops/catalog", sbom_tag(other.digest))] = registry.manifests[
        ("lmsops/catalog", sbom_tag(one.digest))
    ]
    with pytest.raises(SbomError, match=f"attached to {one.digest}, not to the image {other.digest}"):
        client.find(other)


def test_a_registry_that_does_not_answer_is_one_prerequisite_error_at_once() -> None:
    port = free_port()  # nothing listens there
    image = RegistryImage(f"127.0.0.1:{port}", "lmsops/catalog", "sha256:" + "1" * 64)
    with pytest.raises(PrerequisiteError, match=f"registry 127.0.0.1:{port} does not answer"):
        SbomRegistry(f"127.0.0.1:{port}").find(image)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1:5000", True), ("localhost:5000", True), ("localhost", True), ("[::1]:5000", True),
     ("ghcr.io", False), ("10.0.0.7:5000", False), ("registry.example.org:443", False)],
)  # fmt: skip
def test_plain_http_only_to_a_loopback_registry(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


# --- lookup: where an SBOM comes from ---------------------------------------------------------------


class Scans:
    """A Scanner standing in: the images this engine 'has', each with its SBOM."""

    def __init__(self, held: dict[str, bytes]) -> None:
        self.held = held
        self.scanned: list[str] = []

    def scan(self, reference: str, name: str | None = None) -> Scan:
        if reference not in self.held:
            raise ImageNotHereError(f"image {reference} is not on this Docker engine; build or pull it first")
        self.scanned.append(reference)
        return Scan(parse(self.held[reference], reference), "scanned", 1.5)


class PullingDocker(FakeDocker):
    """An engine that gets an image by pulling it (from the registry of the test)."""

    def __init__(self, scans: Scans, pullable: dict[str, bytes]) -> None:
        super().__init__()
        self.scans, self.pullable = scans, pullable
        self.pulled: list[str] = []

    def pull(self, ref: str) -> None:
        self.pulled.append(ref)
        self.add_image(ref)
        self.scans.held[ref] = self.pullable[ref]


def test_an_image_this_engine_has_is_scanned_here(registry: FakeRegistry) -> None:
    scans = Scans({"lmsops/catalog:1": SBOM.document})
    scan = sbom_of(scans, "lmsops/catalog:1", registries())  # type: ignore[arg-type]
    assert (scan.source, scan.sbom) == ("scanned", SBOM) and registry.requests == []


def test_an_image_only_in_its_registry_is_read_from_the_sbom_attached_there(registry: FakeRegistry) -> None:
    image = registry.push_image("lmsops/catalog")
    SbomRegistry(registry.address).attach(image, SBOM)
    scan = sbom_of(Scans({}), str(image), registries())  # type: ignore[arg-type]
    assert (scan.source, scan.sbom.document) == ("registry", SBOM.document)


def test_an_image_neither_here_nor_with_an_sbom_in_its_registry_is_one_error(registry: FakeRegistry) -> None:
    image = registry.push_image("lmsops/catalog")
    with pytest.raises(ConfigError, match="not on this Docker engine and its registry holds no SBOM for it"):
        sbom_of(Scans({}), str(image), registries())  # type: ignore[arg-type]
    with pytest.raises(ImageNotHereError, match="lmsops/catalog:2 is not on this Docker engine"):
        sbom_of(Scans({}), "lmsops/catalog:2", registries())  # type: ignore[arg-type]


def test_ensure_attached_scans_exactly_the_pushed_image_pulling_it_when_needed(registry: FakeRegistry) -> None:
    image = registry.push_image("lmsops/catalog")
    scans = Scans({})
    docker = PullingDocker(scans, {str(image): SBOM.document})
    client = SbomRegistry(registry.address)

    attached, scan = ensure_attached(docker, scans, client, image)  # type: ignore[arg-type]

    assert docker.pulled == [str(image)] and scans.scanned == [str(image)], "by digest, never by a tag"
    assert scan is not None and attached.document == SBOM.document
    again, rescanned = ensure_attached(docker, scans, client, image)  # type: ignore[arg-type]
    assert (again.manifest_digest, rescanned, docker.pulled) == (attached.manifest_digest, None, [str(image)])


def test_an_sbom_another_clone_attached_while_this_one_scanned_is_kept_not_pushed_again(
    registry: FakeRegistry,
) -> None:
    image = registry.push_image("lmsops/catalog")
    client = SbomRegistry(registry.address)
    theirs: list[Attached] = []

    class OtherCloneMeanwhile(Scans):
        def scan(self, reference: str, name: str | None = None) -> Scan:
            theirs.append(SbomRegistry(registry.address).attach(image, SBOM))  # between our find and attach
            return super().scan(reference, name)

    scans = OtherCloneMeanwhile({})
    ours_document = document([pypi("psycopg", "3.3.8")], "sha256:" + "5e" * 32)  # this clone's scan differs
    docker = PullingDocker(scans, {str(image): ours_document})
    ours, scan = ensure_attached(docker, scans, client, image)  # type: ignore[arg-type]

    assert (ours.manifest_digest, scan) == (theirs[0].manifest_digest, None)
    assert client.attached(image).document == SBOM.document  # type: ignore[union-attr]


def test_the_release_record_names_the_sbom_of_each_registry_image_it_can(
    registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_sbom, without = registry.push_image("lmsops/catalog", b"a"), registry.push_image("lmsops/gateway", b"b")
    attached = SbomRegistry(registry.address).attach(with_sbom, SBOM)
    down = f"127.0.0.1:{free_port()}"
    asked: list[str] = []

    class Counting(SbomRegistry):
        def find(self, image: RegistryImage) -> str | None:
            asked.append(self.address)
            return super().find(image)

    monkeypatch.setattr(lookup, "SbomRegistry", Counting)
    images = {
        "catalog": str(with_sbom),
        "gateway": str(without),
        "postgres": "lmsops/postgres:15-1-abc",  # a local tag: nothing to ask
        "a": f"{down}/lmsops/a@sha256:{'2' * 64}",
        "b": f"{down}/lmsops/b@sha256:{'3' * 64}",
    }
    assert sbom_references(images, registries()) == {"catalog": attached.reference}
    assert sorted(asked) == sorted([registry.address, registry.address, down]), "a registry that is down: once"
