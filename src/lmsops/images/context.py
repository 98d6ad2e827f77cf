"""One command's context: the repository, the Docker adapter, the reporter and the build mode, with
the image plan computed once and the images built once however many steps of the command ask.

A plan costs ~24 git processes (~0.6 s) and a no-op build one inspect per image; one deploy used to
compute the plan five times and build twice (publish, then deploy). The CLI makes one Context per
command and hands it to every step; a step asks `ctx.plan()` / `ctx.build()`, never plan_images or
build directly. A command that changes what the plan is computed from (a base upgrade edits
versions.yaml) makes a new Context for the new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.bootstrap import Mode
from lmsops.images.build import Built, build
from lmsops.images.plan import PlannedImage, plan_images
from lmsops.images.versions import Versions, load_versions


@dataclass
class Context:
    repo: Repo
    docker: Docker
    report: Reporter = field(default_factory=Reporter)
    mode: Mode = "auto"
    _versions: Versions | None = field(default=None, init=False, repr=False)
    _plan: list[PlannedImage] | None = field(default=None, init=False, repr=False)
    _built: list[Built] | None = field(default=None, init=False, repr=False)

    def versions(self) -> Versions:
        if self._versions is None:
            self._versions = load_versions(self.repo)
        return self._versions

    def plan(self) -> list[PlannedImage]:
        """Every image of this tree with its identity and reference (computed on first use)."""
        if self._plan is None:
            self._plan = plan_images(self.repo, self.versions())
        return self._plan

    def build(self) -> list[Built]:
        """Every image of the plan, built where not up to date (on first use; then the same results)."""
        if self._built is None:
            self._built = build(self.repo, self.docker, self.report, mode=self.mode, planned=self.plan())
        return self._built

    def build_only(self, names: list[str]) -> list[Built]:
        """The named images and the bases they build FROM, from the same plan; nothing else is built."""
        if self._built is not None:
            return [built for built in self._built if built.name in names]
        planned = {image.name: image for image in self.plan()}
        missing = [name for name in names if name not in planned]
        if missing:
            raise ConfigError(f"no image {', '.join(missing)} in base-images/ or services/")
        needed: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop()
            if name in planned and name not in needed:
                needed.add(name)
                pending.extend(planned[name].spec.parents)
        subset = [image for image in self.plan() if image.name in needed]  # build order kept
        results = build(self.repo, self.docker, self.report, mode=self.mode, planned=subset)
        return [built for built in results if built.name in names]

    def reference(self, name: str) -> str:
        """The immutable reference this tree gives the image `name`."""
        found = next((image.reference for image in self.plan() if image.name == name), None)
        if found is None:
            raise ConfigError(f"no image {name!r} in base-images/ or services/")
        return found
