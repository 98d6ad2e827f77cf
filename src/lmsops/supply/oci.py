"""The SBOM next to its image in a registry: pushed, found and read back by digest (oras-py).

oras-py (the ORAS project's Python client) speaks the distribution API: blob uploads, manifests,
and the credentials of `docker login` (~/.docker/config.json) for a registry that wants them. Plain
HTTP only to a loopback registry (lmsops's own has no TLS and listens on 127.0.0.1 only). Every read
is checked: a manifest's bytes against its digest, the SBOM blob against the digest and size the
manifest names, and the manifest's subject against the image (manifest.sbom_layer).
"""

from __future__ import annotations

import ipaddress
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmsops.core.errors import PrerequisiteError
from lmsops.supply.cyclonedx import MEDIA_TYPE, Sbom
from lmsops.supply.manifest import (
    CREATED_ANNOTATION,
    DOCKER_MANIFEST,
    EMPTY_BLOB,
    EMPTY_CONFIG,
    IMAGE_ID_ANNOTATION,
    OCI_MANIFEST,
    TOOL_ANNOTATION,
    Descriptor,
    RegistryImage,
    SbomError,
    attach_manifest,
    sbom_layer,
    sbom_tag,
    sha256,
)

TIMEOUT = 30.0  # seconds for one request: a registry that stops answering is an error, not a hang
ACCEPT = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"


@dataclass(frozen=True)
class Attached:
    """An SBOM in a registry: its attach manifest's digest and (when read) the CycloneDX document."""

    image: RegistryImage
    manifest_digest: str
    document: bytes | None = None

    @property
    def reference(self) -> str:
        """REGISTRY/REPOSITORY@sha256:<the attach manifest's digest> (what a release records)."""
        return f"{self.image.registry}/{self.image.repository}@{self.manifest_digest}"


def is_loopback(registry: str) -> bool:
    """HOST[:PORT] or [IPv6]:PORT names this machine (plain HTTP is allowed there, and only there)."""
    if registry.startswith("["):
        host = registry[1:].split("]", 1)[0]
    else:
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SbomRegistry:
    """One registry (HOST[:PORT]), asked about the SBOMs of its images."""

    def __init__(self, address: str, timeout: float = TIMEOUT) -> None:
        # Imported here: oras-py and requests take ~0.3 s to import, which no other command should pay.
        import oras.provider  # type: ignore[import-untyped]
        import requests.adapters
        from requests.models import PreparedRequest, Response

        class _Timeout(requests.adapters.HTTPAdapter):
            def send(
                self,
                request: PreparedRequest,
                stream: bool = False,
                timeout: float | tuple[float | None, float | None] | None = None,
                verify: bool | str = True,
                cert: str | tuple[str, str] | None = None,
                proxies: dict[str, str] | None = None,
            ) -> Response:
                return super().send(request, stream, timeout or default, verify, cert, proxies)

        default = timeout

        self.address = address
        self._insecure = is_loopback(address)
        self._oras = oras.provider.Registry(hostname=address, insecure=self._insecure)
        for prefix in ("http://", "https://"):
            self._oras.session.mount(prefix, _Timeout())
        self._checked = False

    @property
    def _base(self) -> str:
        return f"{'http' if self._insecure else 'https'}://{self.address}/v2"

    def _container(self, image: RegistryImage, tag: str) -> Any:
        return self._oras.get_container(f"{self.address}/{image.repository}:{tag}")

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        """One request (after checking once that the registry answers at all): oras-py retries a
        failing request for minutes, which a registry that is down would turn into a hang."""
        if not self._checked:
            try:
                self._oras.session.get(f"{self._base}/", timeout=5)
            except Exception as exc:  # requests' errors: connection refused, DNS, TLS, timeout
                raise PrerequisiteError(f"registry {self.address} does not answer ({type(exc).__name__})") from exc
            self._checked = True
        return self._oras.do_request(url, method, **kwargs)

    def _expect(self, response: Any, codes: tuple[int, ...], what: str) -> None:
        if int(response.status_code) not in codes:
            body = str(response.text or "").strip().replace("\n", " ")[:200]
            raise SbomError(f"registry {self.address}: {what}: HTTP {response.status_code} {body}".strip())

    def attach(self, image: RegistryImage, sbom: Sbom) -> Attached:
        """Push the SBOM as an artifact attached to the image (which the registry must hold), then
        read it back by digest and check it is the same document."""
        subject = self._subject(image)
        tag = sbom_tag(image.digest)
        container = self._container(image, tag)
        self._oras.auth.load_configs(container)  # docker login's credentials for this registry, if any
        layer = Descriptor.of(MEDIA_TYPE, sbom.document)
        with tempfile.TemporaryDirectory(prefix="lmsops-sbom-") as scratch:
            for descriptor, data in ((layer, sbom.document), (EMPTY_CONFIG, EMPTY_BLOB)):
                path = Path(scratch) / descriptor.digest.replace(":", "-")
                path.write_bytes(data)
                uploaded = self._oras.upload_blob(str(path), container, descriptor.as_json())
                self._expect(uploaded, (200, 201, 202), f"upload of the blob {descriptor.digest}")
        annotations = {TOOL_ANNOTATION: sbom.tool, IMAGE_ID_ANNOTATION: sbom.image_id, CREATED_ANNOTATION: sbom.created}
        raw = attach_manifest(subject, layer, {key: value for key, value in annotations.items() if value})
        put = self._request("PUT", f"{self._base}/{image.repository}/manifests/{tag}", data=raw,
                            headers={"Content-Type": OCI_MANIFEST})  # fmt: skip
        self._expect(put, (201,), f"push of {image.repository}:{tag}")
        digest = sha256(raw)
        answered = put.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise SbomError(f"registry {self.address} stored {image.repository}:{tag} as {answered}, not {digest}")
        back = self.read(image, digest)
        if back.document != sbom.document:
            raise SbomError(f"registry {self.address}: {back.reference} read back differs from what was pushed")
        return back

    def _subject(self, image: RegistryImage) -> Descriptor:
        """The image's manifest as a descriptor: its media type and size, asked of the registry."""
        head = self._request("HEAD", f"{self._base}/{image.repository}/manifests/{image.digest}",
                             headers={"Accept": ACCEPT})  # fmt: skip
        if int(head.status_code) == 404:
            raise SbomError(f"registry {self.address} has no image {image}; push the image first")
        self._expect(head, (200,), f"the manifest of {image}")
        media_type = str(head.headers.get("Content-Type", "")).split(";", 1)[0].strip()
        return Descriptor(media_type, image.digest, int(head.headers.get("Content-Length", 0)))

    def find(self, image: RegistryImage) -> str | None:
        """The digest of the SBOM attached to the image, or None when it has none."""
        tag = sbom_tag(image.digest)
        self._oras.auth.load_configs(self._container(image, tag))
        got = self._request("GET", f"{self._base}/{image.repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        if int(got.status_code) == 404:
            return None
        self._expect(got, (200,), f"the SBOM tag {image.repository}:{tag}")
        raw = bytes(got.content)
        sbom_layer(raw, image.digest, f"{image.repository}:{tag}")  # it is the image's SBOM
        return sha256(raw)

    def read(self, image: RegistryImage, manifest_digest: str) -> Attached:
        """The SBOM whose attach manifest has that digest, every byte checked against its digest."""
        where = f"{self.address}/{image.repository}@{manifest_digest}"
        got = self._request("GET", f"{self._base}/{image.repository}/manifests/{manifest_digest}",
                            headers={"Accept": OCI_MANIFEST})  # fmt: skip
        self._expect(got, (200,), f"the SBOM manifest {where}")
        raw = bytes(got.content)
        if sha256(raw) != manifest_digest:
            raise SbomError(f"{where}: the manifest's bytes have the digest {sha256(raw)}")
        layer = sbom_layer(raw, image.digest, where)
        blob = self._request("GET", f"{self._base}/{image.repository}/blobs/{layer.digest}")
        self._expect(blob, (200,), f"the SBOM blob {layer.digest}")
        document = bytes(blob.content)
        if sha256(document) != layer.digest or len(document) != layer.size:
            raise SbomError(f"{where}: the SBOM blob is not the one its manifest names ({layer.digest})")
        return Attached(image, manifest_digest, document)

    def attached(self, image: RegistryImage) -> Attached | None:
        """The SBOM attached to the image, read and checked; None when it has none."""
        digest = self.find(image)
        return self.read(image, digest) if digest else None
