"""Debian suites a major upgrade can move to (base-images/suites.yaml), checked against the mirror.

A suite is on the mirror when dists/<suite>/Release names it; what each base would become there is
checked in the suite's package index (main, amd64) before anything changes: a wrong entry in
suites.yaml is refused, not found after twenty minutes of building.
"""

from __future__ import annotations

import lzma
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.yamlfile import load_model
from lmsops.images.versions import DebianPackage

SUITES_FILE = "suites.yaml"
UpstreamVersion = Annotated[str, StringConstraints(pattern=r"^[0-9][0-9A-Za-z.]*$")]
Suite = Annotated[str, StringConstraints(pattern=r"^[a-z]+$")]
_TIMEOUT = 60.0  # seconds; the package index is ~10 MB


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseOnSuite(_Strict):
    """A base on one suite: its version ("3.13") is the upstream version of `package` there."""

    version: UpstreamVersion
    package: DebianPackage


class Suites(_Strict):
    suites: dict[Suite, dict[str, BaseOnSuite]]


def load_suites(repo: Repo) -> Suites:
    path = repo.base_images / SUITES_FILE
    if not path.is_file():
        raise ConfigError(f"{repo.display(path)}: not found; it says what each base becomes on a Debian suite")
    return load_model(path, Suites, repo.display(path))


def matches(upstream: str, debian_version: str) -> bool:
    """Does a Debian version ('3.13.5-1', '17+278', '1:2.8.3+ds1-2') carry the upstream version ('3.13')?"""
    without_epoch = debian_version.split(":", 1)[1] if ":" in debian_version else debian_version
    return without_epoch == upstream or re.match(re.escape(upstream) + r"[.+~-]", without_epoch) is not None


@dataclass(frozen=True)
class MirrorSuite:
    codename: str
    release: str  # "13.8"
    packages: dict[str, str]  # name -> version in main/binary-amd64

    @property
    def major(self) -> str:
        return self.release.split(".", 1)[0]


def read_mirror(mirror: str, suite: str) -> MirrorSuite:
    """dists/<suite>/Release and the suite's amd64 package index. A suite the mirror does not have is
    the user's error (exit 2); a mirror that does not answer at all, the machine's (exit 3)."""
    base = f"{mirror.rstrip('/')}/dists/{suite}"
    release = _fields(_fetch(f"{base}/Release", suite).decode("utf-8", "replace"))
    codename = release[0].get("Codename", "") if release else ""
    if codename != suite:
        raise ConfigError(f"{base}/Release names the suite {codename!r}, not {suite!r}; give a codename (e.g. trixie)")
    version = release[0].get("Version", "")
    if not re.match(r"^[0-9]+(\.[0-9]+)*$", version):
        raise ConfigError(
            f"{base}/Release has no release number (Version: {version!r}); a testing suite cannot be pinned"
        )
    index = lzma.decompress(_fetch(f"{base}/main/binary-amd64/Packages.xz", suite)).decode("utf-8", "replace")
    packages = {fields["Package"]: fields.get("Version", "") for fields in _fields(index) if "Package" in fields}
    return MirrorSuite(codename, version, packages)


def _fetch(url: str, suite: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:  # noqa: S310 (the mirror is http(s) by schema)
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise ConfigError(
                f"the mirror has no suite {suite!r} ({url}: 404); give a Debian codename, e.g. trixie"
            ) from exc
        raise PrerequisiteError(f"the Debian mirror answered {exc.code} for {url}; try again later") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PrerequisiteError(f"the Debian mirror is not reachable ({url}: {reason}); nothing was changed") from exc


def _fields(text: str) -> list[dict[str, str]]:
    """Debian control paragraphs (RFC 822 style): the first line of each field; continuations ignored."""
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current = {}
        elif not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            current[key] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs
