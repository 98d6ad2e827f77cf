"""What is inside a built image: its id, size, base, and the Debian and Python packages it holds.

Read by running the image's own tools (dpkg-query, python3) in a throwaway container without a
network; an image without python3 simply has no Python packages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lmsops.core.docker import Docker
from lmsops.core.labels import OCI

_PYTHON_PACKAGES = (
    "import importlib.metadata as m\nfor d in m.distributions():\n    print(d.metadata['Name'], d.version)\n"
)


@dataclass(frozen=True)
class ImageFacts:
    reference: str
    image_id: str
    size: int
    base_name: str
    base_digest: str
    debian: dict[str, str] = field(default_factory=dict)
    python: dict[str, str] = field(default_factory=dict)


def image_facts(docker: Docker, reference: str) -> ImageFacts | None:
    image_id = docker.image_id(reference)
    if not image_id:
        return None
    labels = docker.image_labels(reference)
    return ImageFacts(
        reference=reference,
        image_id=image_id,
        size=docker.image_size(reference),
        base_name=labels.get(f"{OCI}.base.name", ""),
        base_digest=labels.get(f"{OCI}.base.digest", ""),
        debian=debian_packages(docker, reference),
        python=_pairs(docker, reference, ["python3", "-c", _PYTHON_PACKAGES]),
    )


def debian_packages(docker: Docker, reference: str) -> dict[str, str]:
    return _pairs(docker, reference, ["dpkg-query", "--show", "--showformat", "${Package} ${Version}\\n"])


def _pairs(docker: Docker, reference: str, command: list[str]) -> dict[str, str]:
    result = docker.run_once(reference, entrypoint=command[0], network="none", args=command[1:])
    if result.returncode != 0:
        return {}
    pairs = {}
    for line in result.stdout.splitlines():
        name, _, version = line.strip().partition(" ")
        if name and version:
            pairs[name] = version
    return pairs


@dataclass(frozen=True)
class PackageChanges:
    added: dict[str, str]
    removed: dict[str, str]
    changed: dict[str, tuple[str, str]]

    def summary(self) -> str:
        parts = [f"+{n} {v}" for n, v in sorted(self.added.items())]
        parts += [f"-{n} {v}" for n, v in sorted(self.removed.items())]
        parts += [f"{n} {a} -> {b}" for n, (a, b) in sorted(self.changed.items())]
        return ", ".join(parts) or "none"


def package_changes(old: dict[str, str], new: dict[str, str]) -> PackageChanges:
    return PackageChanges(
        added={n: v for n, v in new.items() if n not in old},
        removed={n: v for n, v in old.items() if n not in new},
        changed={n: (old[n], v) for n, v in new.items() if n in old and old[n] != v},
    )
