"""CycloneDX JSON as syft writes it: the packages of an image, their versions and licences.

Only what lmsops reads from it is modelled (name, version, package type, licences, purl); the
document itself is kept byte for byte, since its sha256 is what the registry holds next to the image.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from lmsops.core.errors import ConfigError

MEDIA_TYPE = "application/vnd.cyclonedx+json"


@dataclass(frozen=True)
class Component:
    """One package of an image. kind is its purl type (deb, pypi, generic, ...)."""

    kind: str
    name: str
    version: str
    licences: tuple[str, ...]
    purl: str

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a package across versions: its type and its normalised name."""
        return self.kind, normalise(self.name)


def normalise(name: str) -> str:
    """PEP 503's form (Python treats -, _ and . alike, in any case); Debian names are lower case already."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Sbom:
    """The SBOM of one image: the CycloneDX document as written, and its packages."""

    image_id: str
    document: bytes
    components: tuple[Component, ...]
    tool: str  # "syft 1.18.1": who wrote it

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.document).hexdigest()

    @property
    def created(self) -> str:
        return str(_metadata(json.loads(self.document)).get("timestamp", ""))

    def licensed(self) -> int:
        return sum(1 for component in self.components if component.licences)


def parse(document: bytes, where: str) -> Sbom:
    """The SBOM in a CycloneDX JSON document; where names it in the error when it is not one."""
    try:
        data = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not JSON ({exc}); expected a CycloneDX SBOM") from exc
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        raise ConfigError(f"{where}: not a CycloneDX document (no bomFormat: CycloneDX)")
    metadata = _metadata(data)
    subject: dict[str, Any] = metadata["component"] if isinstance(metadata.get("component"), dict) else {}
    components = tuple(
        _component(item) for item in data.get("components") or [] if isinstance(item, dict) and item.get("purl")
    )
    return Sbom(str(subject.get("version", "")), document, components, _tool(metadata))


def _metadata(data: dict[str, Any]) -> dict[str, Any]:
    metadata = data.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _component(item: dict[str, Any]) -> Component:
    purl = str(item["purl"])
    kind = purl.removeprefix("pkg:").split("/", 1)[0]
    return Component(kind, str(item.get("name", "")), str(item.get("version", "")), _licences(item), purl)


def _licences(item: dict[str, Any]) -> tuple[str, ...]:
    """SPDX ids, else licence names, and SPDX expressions, as the document gives them (deduplicated)."""
    found: list[str] = []
    for entry in item.get("licenses") or []:
        if not isinstance(entry, dict):
            continue
        licence: dict[str, Any] = entry["license"] if isinstance(entry.get("license"), dict) else {}
        value = entry.get("expression") or licence.get("id") or licence.get("name")
        if value and str(value) not in found:
            found.append(str(value))
    return tuple(found)


def _tool(metadata: dict[str, Any]) -> str:
    tools = metadata.get("tools")
    listed = tools.get("components") if isinstance(tools, dict) else tools  # CycloneDX 1.5+ / 1.4
    for tool in listed if isinstance(listed, list) else []:
        if isinstance(tool, dict) and tool.get("name"):
            return f"{tool['name']} {tool.get('version', '')}".strip()
    return ""
