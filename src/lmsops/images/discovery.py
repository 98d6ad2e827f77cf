"""Every image lmsops builds, discovered from the files, in dependency order.

Bases come from base-images/<name>/Dockerfile (each listed in versions.yaml), services from
services/<name>/Dockerfile. What an image builds FROM is read from its Dockerfile, so the
dependency graph is never kept by hand.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.images.dockerfile import base_uses, copied_sources
from lmsops.images.versions import NAME_PATTERN, OS_NAME, Versions, build_arg_for

Kind = Literal["base", "service"]


@dataclass(frozen=True)
class ImageSpec:
    """One image to build: where its Dockerfile is and which bases it builds FROM."""

    name: str
    kind: Kind
    context: Path
    dockerfile: Path
    version: str
    description: str
    parents: tuple[str, ...]  # base names, in the order the Dockerfile uses them
    inputs: tuple[Path, ...]  # what decides the image's content (hashed) and its revision

    @property
    def runtime_parent(self) -> str:
        """The base of the final stage: what `org.opencontainers.image.base.name` names."""
        return self.parents[-1]


def discover(repo: Repo, versions: Versions) -> list[ImageSpec]:
    """All bases and services, ordered so that every image comes after what it builds FROM."""
    specs = _bases(repo, versions) + _services(repo, versions)
    return _ordered(specs)


def _parents(repo: Repo, dockerfile: Path, versions: Versions) -> tuple[str, ...]:
    display = repo.display(dockerfile)
    by_arg = {build_arg_for(name): name for name in versions.names()}
    parents: list[str] = []
    for use in base_uses(dockerfile, display):
        if use.build_arg not in by_arg:
            known = ", ".join(sorted(by_arg))
            raise ConfigError(
                f"{display}:{use.line}: ${{{use.build_arg}}} names no base image of "
                f"base-images/versions.yaml (known: {known}); add the base there or fix the name"
            )
        if by_arg[use.build_arg] not in parents:
            parents.append(by_arg[use.build_arg])
    return tuple(parents)


def _bases(repo: Repo, versions: Versions) -> list[ImageSpec]:
    folders = {p.parent.name for p in repo.base_images.glob("*/Dockerfile")}
    missing_folder = sorted(set(versions.images) - folders)
    if missing_folder:
        raise ConfigError(
            f"base-images/versions.yaml: images.{missing_folder[0]} has no "
            f"base-images/{missing_folder[0]}/Dockerfile; add it or remove the entry"
        )
    unlisted = sorted(folders - set(versions.images) - {OS_NAME})
    if unlisted:
        raise ConfigError(
            f"base-images/{unlisted[0]}/Dockerfile is not listed in base-images/versions.yaml; "
            f"add `images: {{{unlisted[0]}: {{version: ...}}}}` there"
        )
    specs = []
    for name, entry in versions.images.items():
        folder = repo.base_images / name
        dockerfile = folder / "Dockerfile"
        parents = _parents(repo, dockerfile, versions)
        spec = ImageSpec(name, "base", folder, dockerfile, entry.version, entry.description, parents, (folder,))
        specs.append(spec)
    return specs


def _services(repo: Repo, versions: Versions) -> list[ImageSpec]:
    specs = []
    for dockerfile in sorted(repo.services.glob("*/Dockerfile")):
        folder = dockerfile.parent
        name = folder.name
        if not re.match(NAME_PATTERN, name):
            raise ConfigError(f"services/{name}: a service folder name must be lowercase letters, digits and '-'")
        if name in versions.names():
            raise ConfigError(f"services/{name}: the name is taken by a base image; rename the service")
        version, description = _service_metadata(repo, folder)
        parents = _parents(repo, dockerfile, versions)
        # Services build with the repository root as context (a .dockerignore there lets only
        # services/, libs/ and the wheelhouse in), so they can use the shared libraries of libs/.
        inputs = (folder, *_shared_inputs(repo, dockerfile, folder))
        specs.append(ImageSpec(name, "service", repo.root, dockerfile, version, description, parents, inputs))
    return specs


def _shared_inputs(repo: Repo, dockerfile: Path, folder: Path) -> list[Path]:
    """What a service's Dockerfile copies from outside its folder (e.g. libs/...), checked to exist.

    The wheelhouse is left out: its content is decided by the service's lock file.
    """
    shared: list[Path] = []
    for source in copied_sources(dockerfile):
        path = (repo.root / source).resolve()
        if path.is_relative_to(folder) or path.is_relative_to(repo.work):
            continue
        if not path.is_relative_to(repo.root) or not path.exists():
            raise ConfigError(f"{repo.display(dockerfile)}: COPY {source}: no such path in the repository")
        if path not in shared:
            shared.append(path)
    return shared


def _service_metadata(repo: Repo, folder: Path) -> tuple[str, str]:
    """A service's version and description: from its pyproject.toml, else from a VERSION file."""
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        version_file = folder / "VERSION"
        version = version_file.read_text(encoding="utf-8").strip() if version_file.is_file() else "0.0.0"
        return version or "0.0.0", ""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{repo.display(pyproject)}: invalid TOML: {exc}") from exc
    return str(project.get("version", "0.0.0")), str(project.get("description", ""))


def _ordered(specs: list[ImageSpec]) -> list[ImageSpec]:
    by_name = {spec.name: spec for spec in specs}
    ordered: list[ImageSpec] = []
    state: dict[str, str] = {}

    def visit(spec: ImageSpec, path: list[str]) -> None:
        if state.get(spec.name) == "done":
            return
        if state.get(spec.name) == "visiting":
            cycle = " -> ".join([*path, spec.name])
            raise ConfigError(f"base images build FROM each other in a cycle: {cycle}")
        state[spec.name] = "visiting"
        for parent in spec.parents:
            if parent in by_name:
                visit(by_name[parent], [*path, spec.name])
        state[spec.name] = "done"
        ordered.append(spec)

    for spec in specs:
        visit(spec, [])
    return ordered


def select(specs: list[ImageSpec], names: list[str]) -> list[ImageSpec]:
    """The named images plus the bases they need, in build order; unknown names are an error."""
    if not names:
        return specs
    known = {spec.name: spec for spec in specs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown image {unknown[0]!r}; known images: {', '.join(known)}")
    wanted: set[str] = set()

    def need(name: str) -> None:
        if name in wanted or name not in known:
            return
        wanted.add(name)
        for parent in known[name].parents:
            need(parent)

    for name in names:
        need(name)
    return [spec for spec in specs if spec.name in wanted]
