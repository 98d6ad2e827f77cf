"""Declared == running: compare an environment's declared model with what runs, deny by default.

The declared side is rendered from the repository by the deploy tools themselves (lmsops.drift.render);
the running side is read from the engine. Every field of a Swarm service spec or a Compose
container's configuration is compared (lmsops.drift.specdiff); the few that may differ are one explicit
list per target, each entry with its reason (lmsops.drift.swarm.RULES, lmsops.drift.compose.RULES,
printed in docs/drift.md). On top of the configuration, the state: each declared service runs its replicas,
healthy, the image the declared reference names on this engine, built from this tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lmsops.core.docker import Docker
from lmsops.core.labels import REVISION
from lmsops.drift.specdiff import FieldDifference, show
from lmsops.environments.model import Model

# Reports group the fields of a spec by what they are about; the first matching pattern wins.
_CATEGORY_PATTERNS: tuple[tuple[str, str], ...] = (
    ("image", r"(^|\.)Image$|ContainerSpec\.Image|^Labels\[com\.docker\.stack\.image\]|compose\.image\]"),
    ("environment", r"\.Env(\[|\.|$)"),
    ("health", r"Healthcheck"),
    ("secrets", r"\.(Secrets|Configs)(\[|$)|/run/secrets"),
    ("mounts", r"\.(Mounts|Binds|Tmpfs|Volumes|VolumesFrom)(\[|$)"),
    ("labels", r"Labels\["),
    ("resources", r"^TaskTemplate\.Resources|^HostConfig\.(Memory|Nano|Cpu|Pids|Blkio|Ulimits|OomKill|Kernel)"),
    ("restart", r"RestartPolicy"),
    ("placement", r"^TaskTemplate\.Placement"),
    ("network", r"Networks|NetworkMode|Dns|ExtraHosts|Hostname|Links|Aliases"),
    ("ports", r"^EndpointSpec|PortBindings|ExposedPorts|PublishAllPorts"),
    ("replicas", r"^Mode\."),
    ("update", r"^(UpdateConfig|RollbackConfig)"),
    ("security", r"User|ReadOnly|Readonly|Cap(ability)?(Add|Drop)|Privilege|SecurityOpt|Groups|GroupAdd|Sysctl|Masked"),
)
CATEGORIES = ("presence", "state", *dict(_CATEGORY_PATTERNS), "schema", "other")  # schema: lmsops.drift.schema


def category_of(path: str) -> str:
    return next((name for name, pattern in _CATEGORY_PATTERNS if re.search(pattern, path)), "other")


# Names people use for the fields they change most; every other field is named from its path.
_NAMES = {
    "Mode.Replicated.Replicas": "desired replicas",
    "TaskTemplate.Resources.Limits.MemoryBytes": "memory limit",
    "TaskTemplate.Resources.Limits.NanoCPUs": "cpu limit",
    "TaskTemplate.Resources.Limits.Pids": "pids limit",
    "TaskTemplate.Resources.Reservations.MemoryBytes": "memory reservation",
    "TaskTemplate.Resources.Reservations.NanoCPUs": "cpu reservation",
    "TaskTemplate.Placement.Constraints": "placement constraints",
    "TaskTemplate.Placement.Preferences": "placement preferences",
    "TaskTemplate.ContainerSpec.Secrets": "secrets",
    "TaskTemplate.ContainerSpec.Mounts": "mounts",
    "TaskTemplate.ContainerSpec.Image": "image",
    "TaskTemplate.Networks": "networks",
    "EndpointSpec.Ports": "published ports",
    "EndpointSpec.Mode": "endpoint mode",
    "HostConfig.Memory": "memory limit",
    "HostConfig.NanoCpus": "cpu limit",
    "HostConfig.PidsLimit": "pids limit",
    "HostConfig.Mounts": "mounts",
    "HostConfig.RestartPolicy.Name": "restart policy",
    "HostConfig.PortBindings": "published ports",
    "Image": "image id",
}
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_KEYED = (
    (re.compile(r"\.Env\[(.+)\]$|\.Env\.(\w+)$"), "env {}"),
    (re.compile(r"^Labels\[(.+)\]$|^Labels\.(\w+)$"), "service label {}"),
    (re.compile(r"\.Labels\[(.+)\]$|\.Labels\.(\w+)$"), "container label {}"),
)


def field_name(path: str) -> str:
    """A readable name for a field path: 'TaskTemplate.Placement.Constraints' -> 'placement constraints'."""
    if path in _NAMES:
        return _NAMES[path]
    for pattern, template in _KEYED:
        match = pattern.search(path)
        if match:
            return template.format(next(g for g in match.groups() if g))
    parts = [p for p in re.split(r"\.|\[\]", path) if p and p not in {"TaskTemplate", "ContainerSpec", "Spec"}]
    words = [w.lower() for part in parts[-2:] for w in _WORDS.findall(part.strip("[]"))]
    return " ".join(words) or path


@dataclass(frozen=True)
class Difference:
    env: str
    service: str
    category: str
    field: str  # readable name
    declared: str
    running: str
    path: str = ""  # the field's path in the engine's document ('' for state checks)

    def line(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.service}: {self.field}{where}: declared {self.declared}, running {self.running}"


class Recorder:
    """Collects differences for one service (or container) of one environment."""

    def __init__(self, env: str, service: str, secrets: Iterable[str] = ()) -> None:
        self.env, self.service = env, service
        self.found: list[Difference] = []
        # A report goes to terminals and CI logs: a secret's value never appears in it, whatever
        # field it turned up in (a variable set by hand, a command line, a label).
        self._secrets = sorted({value for value in secrets if len(value) >= MIN_SECRET}, key=len, reverse=True)

    def check(self, category: str, field: str, declared: object, running: object) -> None:
        if declared != running:
            self.add(category, field, declared, running)

    def add(self, category: str, field: str, declared: object, running: object, path: str = "") -> None:
        declared_text, running_text = self._masked(show(declared)), self._masked(show(running))
        self.found.append(Difference(self.env, self.service, category, field, declared_text, running_text, path))

    def _masked(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, "<a secret's value>")
        return text

    def fields(self, differences: Iterable[FieldDifference], prefix: str = "") -> None:
        for d in differences:
            self.add(category_of(d.path), prefix + field_name(d.path), d.declared, d.running, d.path)


MIN_SECRET = 6  # shorter values would match by chance


def check_no_secret_in_plain_variables(rec: Recorder, running_env: Mapping[str, str], secrets: Iterable[str]) -> None:
    """A secret's value anywhere in a plain variable (alone, or inside a DSN) is drift, whatever declares it."""
    values = {value for value in secrets if len(value) >= MIN_SECRET}
    for key, value in sorted(running_env.items()):
        if any(secret in value for secret in values):
            rec.add("environment", f"env {key}", "(no secret in a plain variable)", "a secret's value")


def env_map(entries: Iterable[str] | None) -> dict[str, str]:
    pairs = (str(entry).partition("=") for entry in entries or [])
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


def model_file(model: Model) -> Path:
    """The resolved model written where deploy writes it (relative paths resolve the same way)."""
    path = model.env_file.parent / "drift-model.yaml"
    path.write_text(model.text)
    return path


def revisions_of(model: Model) -> dict[str, str]:
    """image reference -> the commit the model says it was built from (checked against its label)."""
    return {image.reference: image.source.revision for image in model.images}
