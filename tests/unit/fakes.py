"""A fake Docker adapter for unit tests of the engine: records calls, keeps images in a dict."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lmsops.core.docker import Docker, EngineInfo


class FakeDocker(Docker):
    def __init__(self) -> None:
        super().__init__("fake-docker")
        self.images: dict[str, dict[str, Any]] = {}
        self.builds: list[dict[str, Any]] = []
        self.fail_build: str | None = None
        self.inspected: list[str] = []  # every image_inspect, in order

    def require(self) -> EngineInfo:
        return EngineInfo("20.10.24", "2.40.3")

    def add_image(self, ref: str, labels: Mapping[str, str] | None = None) -> str:
        image_id = "sha256:" + hashlib.sha256(f"{ref}{sorted((labels or {}).items())}".encode()).hexdigest()
        self.images[ref] = {"Id": image_id, "Size": 1_000_000, "Config": {"Labels": dict(labels or {})}}
        return image_id

    def image_inspect(self, ref: str) -> dict[str, object] | None:
        self.inspected.append(ref)
        return self.images.get(ref)

    def tag(self, source: str, target: str) -> None:
        self.images[target] = self.images[source]

    def build(
        self,
        *,
        context: Path,
        dockerfile: Path,
        tags: Sequence[str],
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        iidfile: Path,
        target: str | None = None,
        on_line: Any = None,
    ) -> str:
        from lmsops.core.errors import CommandError

        self.builds.append(
            {"dockerfile": dockerfile, "tags": list(tags), "build_args": dict(build_args), "labels": dict(labels)}
        )
        if self.fail_build and self.fail_build in str(dockerfile):
            if on_line:
                on_line("Step 2/5 : RUN apt-get install nonexistent-package")
                on_line("E: Unable to locate package nonexistent-package")
            raise CommandError(["docker", "build"], 100, "E: Unable to locate package nonexistent-package")
        image_id = self.add_image(tags[0], labels)
        for tag in tags[1:]:
            self.images[tag] = self.images[tags[0]]
        return image_id
