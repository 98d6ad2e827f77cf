"""Declared == running: compare an environment's resolved model with what runs.

`compare` returns every difference (environment, service, field, declared, running), each in a
category so that tests can report them one by one. The Compose and Swarm readers live in
drift_compose.py and drift_swarm.py; what both share is here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmsops.docker import Docker
from lmsops.envconfig import Overrides
from lmsops.model import Model, resolve
from lmsops.paths import Repo

CATEGORIES = (
    "presence", "image", "environment", "security", "resources", "restart", "health",
    "network", "ports", "replicas", "update", "labels", "secrets",
)  # fmt: skip
REVISION = "org.opencontainers.image.revision"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MEMORY = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass(frozen=True)
class Difference:
    env: str
    service: str
    category: str
    field: str
    declared: str
    running: str

    def line(self) -> str:
        return f"{self.service}: {self.field}: declared {self.declared}, running {self.running}"


class Recorder:
    """Collects differences for one service of one environment."""

    def __init__(self, env: str, service: str) -> None:
        self.env, self.service = env, service
        self.found: list[Difference] = []

    def check(self, category: str, field: str, declared: object, running: object) -> None:
        if _norm(declared) != _norm(running):
            self.found.append(Difference(self.env, self.service, category, field, _show(declared), _show(running)))

    def add(self, category: str, field: str, declared: object, running: object) -> None:
        self.found.append(Difference(self.env, self.service, category, field, _show(declared), _show(running)))


def _norm(value: object) -> object:
    if isinstance(value, list | tuple | set):
        return sorted(_show(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _norm(v) for k, v in value.items()}
    if value in (None, "", 0, False):
        return None
    return _show(value)


def _show(value: object) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, list | tuple | set):
        return ", ".join(sorted(map(str, value))) or "(none)"
    return str(value)


def duration_ns(value: object) -> int:
    """'1m30s' / '15s' / 15000000000 -> nanoseconds."""
    if value is None:
        return 0
    if isinstance(value, int | float):
        return int(value)
    return sum(int(float(n) * _UNITS[u]) for n, u in _DURATION.findall(str(value)))


def memory_bytes(value: object) -> int:
    if value is None:
        return 0
    match = re.fullmatch(r"(\d+)\s*([bkmg]?)b?", str(value).strip().lower())
    return int(match[1]) * _MEMORY[match[2]] if match else int(float(str(value)))


def nano_cpus(value: object) -> int:
    return 0 if value is None else round(float(str(value)) * 1e9)


def check_environment(
    rec: Recorder, declared: Mapping[str, str], running: Mapping[str, str], secret_values: Iterable[str]
) -> None:
    """Declared values present; no undeclared LMS_ variable; no secret value in any plain variable."""
    for key, value in sorted(declared.items()):
        rec.check("environment", f"env {key}", value, running.get(key))
    for key in sorted(running):
        if key.startswith("LMS_") and key not in declared:
            rec.add("environment", f"env {key}", "(not declared)", running[key])
    secrets = {value for value in secret_values if len(value) >= 6}
    for key, value in sorted(running.items()):
        if value in secrets:
            rec.add("environment", f"env {key}", "(no secret in a plain variable)", "a secret's value")


def env_map(entries: Iterable[str] | Mapping[str, Any] | None) -> dict[str, str]:
    if entries is None:
        return {}
    if isinstance(entries, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in entries.items()}
    pairs = (entry.partition("=") for entry in entries)
    return {key: value for key, _, value in pairs}


def secret_values(model: Model) -> list[str]:
    values = []
    for spec in (model.document.get("secrets") or {}).values():
        path = Path(str(spec.get("file", "")))
        if path.is_file():
            values.append(path.read_text(encoding="utf-8").strip())
    return values


def revision_of(docker: Docker, image: str) -> str:
    return docker.image_labels(image).get(REVISION, "")


def compare(repo: Repo, docker: Docker, env_name: str, overrides: Overrides | None = None) -> list[Difference]:
    """Every difference between env_name's declared model and what runs on its target."""
    from lmsops.drift_compose import compare_compose
    from lmsops.drift_swarm import compare_swarm

    model = resolve(repo, docker, env_name, overrides)
    target = docker.for_target(model.env.target.context, model.env.target.host)
    target.require_engine()
    revisions = {image.reference: image.source.revision for image in model.images}
    if model.env.target.kind == "compose":
        return compare_compose(target, model, revisions)
    return compare_swarm(target, model, revisions, images=docker)


def table(differences: list[Difference]) -> str:
    rows = [("ENVIRONMENT", "SERVICE", "FIELD", "DECLARED", "RUNNING")]
    rows += [(d.env, d.service, d.field, d.declared, d.running) for d in differences]
    widths = [min(max(len(row[i]) for row in rows), 60) for i in range(5)]
    return "\n".join(
        "  ".join(cell[:60].ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )
