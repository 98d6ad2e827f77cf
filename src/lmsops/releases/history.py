"""Deploy history and stack-level rollback for Swarm environments.

Every successful deploy records a release in the swarm itself, as a Docker config
`<stack>_release_<n>` (so every operator and CI job sees the same history): environment, commit,
the hash of the resolved model, the image digests, who and when, and the model itself.
`nox -s history -- ENV` lists them; `nox -s rollback -- ENV` redeploys the previous release of every
service together, which Swarm cannot do for a stack (docker/cli#595), and records that as a
release too. The services carry the commit and the model hash as labels. A release also names the
SBOM attached to each service's image in its registry (by the digest of its attach manifest:
lmsops.supply, docs/sbom.md), so what a release ran can be audited package by package later.
"""

from __future__ import annotations

import base64
import dataclasses
import getpass
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lmsops.core import gitinfo
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.yamlfile import parse_yaml
from lmsops.environments.model import COMMIT_LABEL, CONFIG_LABEL, Model
from lmsops.supply.lookup import registries, sbom_references

RELEASE_LABEL = "org.lmsops.release"


@dataclass(frozen=True)
class Release:
    seq: int
    env: str
    stack: str
    commit: str
    config: str
    images: dict[str, str]
    by: str
    at: str
    note: str
    model: str
    host: str = ""  # the machine that deployed it (releases recorded before it was kept have none)
    # service -> REGISTRY/REPOSITORY@sha256:... of its image's SBOM (none before SBOMs were attached)
    sboms: dict[str, str] = field(default_factory=dict)

    @property
    def who(self) -> str:
        """'Ada@build-7': the deployer's name (no e-mail: a table cell) and the machine."""
        name = self.by.split(" <", 1)[0]
        return f"{name}@{self.host}" if self.host else name

    def line(self) -> str:
        images = ", ".join(f"{name}={ref.rsplit('/', 1)[-1]}" for name, ref in sorted(self.images.items()))
        note = f" ({self.note})" if self.note else ""
        commit = self.commit[:12] + ("-dirty" if self.commit.endswith("-dirty") else "")
        return f"#{self.seq} {self.at} by {self.by}: commit {commit} config {self.config}{note}\n    {images}"


def who() -> str:
    """The CI actor, else the git user, else the login name."""
    actor = os.environ.get("GITHUB_ACTOR") or os.environ.get("GITLAB_USER_LOGIN") or os.environ.get("CI_ACTOR")
    if actor:
        return f"{actor} (CI)"
    name, email = gitinfo.user_identity()
    if name:
        return f"{name} <{email}>" if email else name
    return getpass.getuser()


def releases(docker: Docker, stack: str) -> list[Release]:
    found = []
    known = {f.name for f in dataclasses.fields(Release)}
    for config in docker.configs_with_label(f"{RELEASE_LABEL}={stack}"):
        data = json.loads(base64.b64decode(config["Spec"]["Data"]))
        found.append(Release(**{key: value for key, value in data.items() if key in known}))
    return sorted(found, key=lambda release: release.seq)


SbomLookup = Callable[[dict[str, str]], dict[str, str]]  # service -> image  =>  service -> its SBOM


def registry_sboms(images: dict[str, str]) -> dict[str, str]:
    """The SBOM attached to each image in its registry (publish attached them just before a deploy)."""
    return sbom_references(images, registries())


def record_release(docker: Docker, model: Model, note: str = "", sboms: SbomLookup | None = None) -> Release:
    """Record a release in the swarm; sboms: how each image's SBOM is found (default: asked of its registry)."""
    stack = model.project
    history = releases(docker, stack)
    services: dict[str, Any] = model.document.get("services") or {}
    first: dict[str, Any] = next(iter(services.values()), {})
    labels: dict[str, Any] = (first.get("deploy") or {}).get("labels") or {}
    images = {name: str(spec.get("image", "")) for name, spec in services.items()}
    release = Release(
        seq=(history[-1].seq + 1) if history else 1,
        env=model.env.name,
        stack=stack,
        commit=str(labels.get(COMMIT_LABEL, "")),
        config=str(labels.get(CONFIG_LABEL, "")),
        images=images,
        by=who(),
        at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        note=note,
        model=model.text,
        host=socket.gethostname(),
        sboms=(sboms or registry_sboms)(images),
    )
    data = json.dumps(dataclasses.asdict(release), sort_keys=True).encode()
    docker.config_create(f"{stack}_release_{release.seq:04d}", {RELEASE_LABEL: stack}, data)
    return release


def previous(history: list[Release], env_name: str) -> Release:
    if len(history) < 2:
        raise ConfigError(f"{env_name}: no previous release to roll back to ({len(history)} recorded)")
    return history[-2]


def model_of(release: Release, current: Model) -> Model:
    """The recorded model of a release, deployable like a freshly resolved one."""
    document = parse_yaml(release.model)
    return dataclasses.replace(current, document=document, text=release.model)


# -- the history as a table ------------------------------------------------------------------------

_RELEASE_LABELS = {COMMIT_LABEL, CONFIG_LABEL}


def _services(release: Release) -> dict[str, Any]:
    """Each service's recorded declaration, without the release labels (they change every commit)."""
    document = parse_yaml(release.model) if release.model else {}
    services = dict((document or {}).get("services") or {}) if isinstance(document, dict) else {}
    for spec in services.values():
        labels = (spec.get("deploy") or {}).get("labels") if isinstance(spec, dict) else None
        if isinstance(labels, dict):
            for key in _RELEASE_LABELS:
                labels.pop(key, None)
    return services


def changed_services(before: Release | None, after: Release) -> list[str]:
    """The services whose declaration differs from the release before: '+name' added, '-name' removed."""
    new = _services(after)
    if before is None:
        return sorted(new)
    old = _services(before)
    changed = [name for name in sorted(set(old) & set(new)) if old[name] != new[name]]
    return (
        changed
        + [f"+{name}" for name in sorted(set(new) - set(old))]
        + [f"-{name}" for name in sorted(set(old) - set(new))]
    )


def short_digest(reference: str) -> str:
    """'...catalog@sha256:8f30f30fd238...' -> '8f30f30fd238'; a tag reference -> its tag."""
    if "@sha256:" in reference:
        return reference.split("@sha256:", 1)[1][:12]
    return reference.rsplit(":", 1)[-1] if ":" in reference.rsplit("/", 1)[-1] else reference


def current_release(history: list[Release], running: dict[str, str]) -> Release | None:
    """The release whose images are what runs (service -> image), newest first; else the last one
    recorded (the last accepted deploy)."""
    for release in reversed(history):
        if release.images and release.images == running:  # the same services, each on the same image
            return release
    return history[-1] if history else None


@dataclass(frozen=True)
class HistoryRow:
    release: Release
    changed: list[str]  # services changed since the release before ('+name' added, '-name' removed)
    current: bool
    same_image: frozenset[str] = frozenset()  # changed services whose image did not change (configuration only)


def history_rows(history: list[Release], running: dict[str, str]) -> list[HistoryRow]:
    """Newest first, each with what it changed and whether it is the one running."""
    current = current_release(history, running)
    rows = []
    for i, release in enumerate(history):
        before = history[i - 1] if i else None
        changed = changed_services(before, release)
        same = frozenset(
            name for name in changed
            if before is not None and name in release.images and before.images.get(name) == release.images[name]
        )  # fmt: skip
        rows.append(HistoryRow(release, changed, release is current, same))
    return rows[::-1]


def history_table(rows: list[HistoryRow]) -> list[tuple[str, ...]]:
    """Header and one row per release: * marks the current release; digests 12 hex."""
    table: list[tuple[str, ...]] = [("", "RELEASE", "WHEN", "WHO", "COMMIT", "CHANGED (NEW DIGEST OR CONFIG)", "NOTE")]
    for row in rows:
        r = row.release
        commit = r.commit[:12] + ("-dirty" if r.commit.endswith("-dirty") else "")
        changed = ", ".join(_changed_cell(name, r.images, row.same_image) for name in row.changed)
        when = r.at.replace("T", " ")
        table.append(("*" if row.current else "", f"#{r.seq}", when, r.who, commit, changed or "(nothing)", r.note))
    return table


def _changed_cell(name: str, images: dict[str, str], same_image: frozenset[str]) -> str:
    """'catalog 8f30f30fd238' (a new image), 'catalog config' (the same image, other settings), '-grades'."""
    if name in same_image:
        return f"{name} config"
    service = name.lstrip("+")
    return f"{name} {short_digest(images[service])}" if service in images else name


def history_json(rows: list[HistoryRow]) -> list[dict[str, Any]]:
    """Keys documented in docs/environments.md ("--json"); images in full."""
    return [
        {
            "release": row.release.seq,
            "at": row.release.at,
            "by": row.release.by,
            "host": row.release.host,
            "commit": row.release.commit,
            "config": row.release.config,
            "note": row.release.note,
            "images": dict(sorted(row.release.images.items())),
            "sboms": dict(sorted(row.release.sboms.items())),
            "changed": row.changed,
            "config_only": sorted(row.same_image),
            "current": row.current,
        }
        for row in rows
    ]
