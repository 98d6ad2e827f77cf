"""base-images/versions.yaml: the single source of truth for every base image.

Dockerfiles never name a base image literally; they declare `ARG <NAME>_IMAGE` and
`FROM ${<NAME>_IMAGE}`, and lmsops fills the argument from this file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from lmsops.core.errors import ConfigError
from lmsops.core.paths import MARKER, Repo
from lmsops.core.yamlfile import load_model

OS_NAME = "os"
NAME_PATTERN = r"^[a-z][a-z0-9-]*[a-z0-9]$"
Version = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")]
# A Debian package name (policy 5.6.1): lowercase letters, digits, + - . ; at least two characters.
DebianPackage = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9+.-]+$")]
EXTRA_PACKAGES_ARG = "EXTRA_PACKAGES"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OsRoot(Strict):
    """The OS root every base builds on: pulled by digest, or bootstrapped from Debian packages."""

    reference: Annotated[str, StringConstraints(pattern=r"^[a-z0-9./-]+:[A-Za-z0-9_.-]+$")] = Field(
        description="the name:tag every Dockerfile receives as OS_IMAGE"
    )
    # None after a major upgrade made offline (lmsops upgrade-major): the new suite's registry digest cannot
    # be looked up without a registry, so the root is bootstrapped until someone pins it (Renovate, by hand).
    digest: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")] | None = Field(
        description="registry digest pulled where a registry is reachable (null: not pinned yet, bootstrap only)"
    )
    version: Version = Field(description="bump to rebuild the bootstrapped root from today's packages")
    suite: Annotated[str, StringConstraints(pattern=r"^[a-z]+$")]
    mirror: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]


class BaseImage(Strict):
    """One shared base image built from base-images/<name>/Dockerfile."""

    version: Version
    description: str = ""
    packages: list[DebianPackage] = Field(
        default_factory=list,
        description="extra Debian packages installed on top of what the Dockerfile installs (EXTRA_PACKAGES)",
    )


class Versions(Strict):
    namespace: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")] = "lmsops"
    os: OsRoot
    images: dict[str, BaseImage]

    @field_validator("images")
    @classmethod
    def _names_are_labels(cls, images: dict[str, BaseImage]) -> dict[str, BaseImage]:
        for name in images:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"image name {name!r} must be lowercase letters, digits and '-'")
            if name == OS_NAME:
                raise ValueError(f"{OS_NAME!r} is reserved for the OS root (the top-level 'os' key)")
        return images

    def reference(self, name: str) -> str:
        """The name:tag under which a base image is built and referred to."""
        if name == OS_NAME:
            return self.os.reference
        return f"{self.namespace}/{name}:{self.images[name].version}"

    def version_of(self, name: str) -> str:
        return self.os.version if name == OS_NAME else self.images[name].version

    def names(self) -> list[str]:
        return [OS_NAME, *self.images]


# The Python bases and the PostgreSQL base are named for what they install from the suite: "3.11-1" is
# CPython 3.11 (Debian's python3), "15-1" is PostgreSQL 15. The wheelhouse and the locks read the
# interpreter from here, so a major upgrade changes it in this one place.
PYTHON_BASE = "python"
POSTGRES_BASE = "postgres"
_PYTHON_VERSION = re.compile(r"^(?P<minor>3\.[0-9]+)-[0-9A-Za-z_.-]+$")
_POSTGRES_VERSION = re.compile(r"^(?P<major>[0-9]+)-[0-9A-Za-z_.-]+$")


def python_minor(versions: Versions) -> str:
    """The CPython minor version of the images ('3.11'), from the python base's version ('3.11-1')."""
    version = versions.version_of(PYTHON_BASE) if PYTHON_BASE in versions.images else ""
    match = _PYTHON_VERSION.match(version)
    if not match:
        raise ConfigError(
            f"base-images/versions.yaml: images.{PYTHON_BASE}.version {version!r} must start with the Python minor "
            'its suite installs, e.g. "3.11-1" (the wheelhouse and the locks target that interpreter)'
        )
    return match["minor"]


def postgres_major(versions: Versions) -> str | None:
    """The PostgreSQL major of the postgres base ('15' of '15-1'); None when there is no such base."""
    if POSTGRES_BASE not in versions.images:
        return None
    version = versions.version_of(POSTGRES_BASE)
    match = _POSTGRES_VERSION.match(version)
    if not match:
        raise ConfigError(
            f"base-images/versions.yaml: images.{POSTGRES_BASE}.version {version!r} must start with the PostgreSQL "
            'major its suite installs, e.g. "15-1"'
        )
    return match["major"]


def python_of(start: Path) -> str:
    """The image interpreter of the repository that holds start (a lock file, a folder of it)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return python_minor(load_versions(Repo(folder)))
    raise ConfigError(f"{start}: not inside an lmsops repository ({MARKER} not found above it)")


def build_arg_for(name: str) -> str:
    """The Dockerfile ARG that carries a base's reference: python-build -> PYTHON_BUILD_IMAGE."""
    return name.upper().replace("-", "_") + "_IMAGE"


def load_versions(repo: Repo) -> Versions:
    return load_model(repo.versions_file, Versions, repo.display(repo.versions_file))
