"""Deploy history and stack-level rollback for Swarm environments.

Every successful deploy records a release in the swarm itself, as a Docker config
`<stack>_release_<n>` (so every operator and CI job sees the same history): environment, commit,
the hash of the resolved model, the image digests, who and when, and the model itself.
`nox -s history -- ENV` lists them; `nox -s rollback -- ENV` redeploys the previous release of every
service together, which Swarm cannot do for a stack (docker/cli#595), and records that as a
release too. The services carry the commit and the model hash as labels.
"""

from __future__ import annotations

import base64
import dataclasses
import getpass
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from lmsops.core import gitinfo
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.environments.model import COMMIT_LABEL, CONFIG_LABEL, Model

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
    for config in docker.configs_with_label(f"{RELEASE_LABEL}={stack}"):
        data = json.loads(base64.b64decode(config["Spec"]["Data"]))
        found.append(Release(**data))
    return sorted(found, key=lambda release: release.seq)


def record_release(docker: Docker, model: Model, note: str = "") -> Release:
    stack = model.project
    history = releases(docker, stack)
    services: dict[str, Any] = model.document.get("services") or {}
    first: dict[str, Any] = next(iter(services.values()), {})
    labels: dict[str, Any] = (first.get("deploy") or {}).get("labels") or {}
    release = Release(
        seq=(history[-1].seq + 1) if history else 1,
        env=model.env.name,
        stack=stack,
        commit=str(labels.get(COMMIT_LABEL, "")),
        config=str(labels.get(CONFIG_LABEL, "")),
        images={name: str(spec.get("image", "")) for name, spec in services.items()},
        by=who(),
        at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        note=note,
        model=model.text,
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
    document = yaml.safe_load(release.model)
    return dataclasses.replace(current, document=document, text=release.model)
