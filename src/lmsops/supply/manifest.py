"""How an SBOM is attached to its image in a registry: an OCI 1.1 artifact manifest, by digest.

The registry lmsops runs itself (Debian's docker-registry, distribution 2.8) has no referrers API,
so the SBOM is found the way cosign finds its attachments: under the tag `sha256-<hex>.sbom` of the
image's repository, where <hex> is the image's manifest digest. The manifest there is an OCI image
manifest with artifactType application/vnd.cyclonedx+json, an empty config, one layer (the
CycloneDX document) and a `subject` naming the image's manifest, so a registry that has the
referrers API (OCI 1.1) also lists it under the image. Pure functions only: the HTTP is in `oci`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from lmsops.core.errors import LmsopsError
from lmsops.supply.cyclonedx import MEDIA_TYPE

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
EMPTY_BLOB = b"{}"  # the OCI 1.1 empty descriptor's content: an artifact without a config
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TOOL_ANNOTATION = "org.lmsops.sbom.tool"
IMAGE_ID_ANNOTATION = "org.lmsops.image.id"
CREATED_ANNOTATION = "org.opencontainers.image.created"


class SbomError(LmsopsError):
    """What a registry holds as an image's SBOM is not what lmsops attached (or cannot be read)."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    @classmethod
    def of(cls, media_type: str, data: bytes) -> Descriptor:
        return cls(media_type, sha256(data), len(data))

    def as_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


EMPTY_CONFIG = Descriptor.of("application/vnd.oci.empty.v1+json", EMPTY_BLOB)


@dataclass(frozen=True)
class RegistryImage:
    """An image reference that names a registry and a digest: REGISTRY/REPOSITORY@sha256:..."""

    registry: str
    repository: str
    digest: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


def registry_image(reference: str) -> RegistryImage | None:
    """The parts of REGISTRY/REPOSITORY[:TAG]@sha256:...; None for a reference without a registry
    host or a digest (a local tag: nothing to look up)."""
    name, at, digest = reference.partition("@")
    registry, _, repository = name.partition("/")
    if not at or not DIGEST.match(digest) or not repository:
        return None
    if not ("." in registry or ":" in registry or registry == "localhost"):
        return None  # Docker's rule: a first part without . or : is a Docker Hub namespace
    last = repository.rsplit("/", 1)[-1]
    return RegistryImage(registry, repository[: len(repository) - len(last)] + last.split(":", 1)[0], digest)


def sbom_tag(image_digest: str) -> str:
    """sha256:ab12... -> sha256-ab12....sbom (cosign's scheme: a tag cannot hold a colon)."""
    if not DIGEST.match(image_digest):
        raise SbomError(f"{image_digest!r} is not a sha256 image digest")
    return image_digest.replace(":", "-") + ".sbom"


def attach_manifest(subject: Descriptor, sbom: Descriptor, annotations: dict[str, str]) -> bytes:
    """The manifest that attaches the SBOM blob to the image `subject`, as bytes (its digest is theirs)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MEDIA_TYPE,
        "config": EMPTY_CONFIG.as_json(),
        "layers": [sbom.as_json()],
        "subject": subject.as_json(),
        "annotations": dict(sorted(annotations.items())),
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def sbom_layer(raw: bytes, image_digest: str, where: str) -> Descriptor:
    """The SBOM blob's descriptor in an attach manifest read back from a registry, after checking it
    is one: an SBOM artifact whose subject is that image."""
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise SbomError(f"{where}: the registry's manifest is not JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("artifactType") != MEDIA_TYPE:
        raise SbomError(f"{where}: not an SBOM (artifactType is not {MEDIA_TYPE})")
    subject = manifest.get("subject")
    if not isinstance(subject, dict) or subject.get("digest") != image_digest:
        named = subject.get("digest") if isinstance(subject, dict) else None
        raise SbomError(f"{where}: attached to {named}, not to the image {image_digest}")
    layers = [layer for layer in manifest.get("layers") or [] if isinstance(layer, dict)]
    if len(layers) != 1 or layers[0].get("mediaType") != MEDIA_TYPE or not DIGEST.match(str(layers[0].get("digest"))):
        raise SbomError(f"{where}: expected one layer of type {MEDIA_TYPE}")
    return Descriptor(MEDIA_TYPE, str(layers[0]["digest"]), int(layers[0].get("size", -1)))
