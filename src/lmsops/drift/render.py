"""What a deploy of the declared model would create, rendered by the deploy tools themselves.

Drift compares what runs with this rendering, so the declared side comes from the repository
(the resolved model), never from a recording of what ran. `docker stack deploy` and `docker
compose create` run against lmsops's fake engine (lmsops.drift.fake_engine): their own converters turn
the model into Swarm service specs and container configurations, which the fake records. No
object is created anywhere. docs/drift.md explains why this was chosen over recorded specs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.drift.fake_engine import EngineFacts, Recording, fake_engine
from lmsops.environments.model import Model


@dataclass(frozen=True)
class EngineDefaults:
    """Settings of the real engine that fill what a declaration leaves unset (docs/drift.md)."""

    logging_driver: str
    runtime: str
    cgroup_version: str


@dataclass(frozen=True)
class Rendered:
    """Swarm: service name -> ServiceSpec. Compose: container name -> container create body."""

    specs: dict[str, dict[str, Any]]
    images: dict[str, dict[str, Any]]  # image reference -> its inspect document (from the real engine)


def _facts(images: Docker, references: list[str]) -> EngineFacts:
    found: dict[str, dict[str, Any]] = {}
    for reference in references:
        doc = images.image_inspect(reference)
        if doc:
            found[reference] = dict(doc)
    version = images.server_version()
    return EngineFacts(str(version.get("ApiVersion", "1.41")), version, found)


def _references(model: Model) -> list[str]:
    return sorted({str(spec.get("image", "")) for spec in model.document.get("services", {}).values()} - {""})


def _checked(recording: Recording, what: str) -> None:
    if recording.refused:
        raise ConfigError(
            f"cannot render {what}: the docker client asked for {', '.join(recording.refused)}, which lmsops's "
            "rendering engine does not know (a newer docker client?); report it with `docker version`"
        )


def render_swarm(images: Docker, model: Model, path: Path) -> Rendered:
    """The ServiceSpec `docker stack deploy` sends for each service of the model (created from scratch)."""
    facts = _facts(images, _references(model))
    with fake_engine(facts) as (host, recording):
        result = images.for_target(None, host).stack_deploy(model.project, path, check=False)
    _checked(recording, f"the Swarm stack {model.project}")
    if result.returncode != 0:
        raise ConfigError(f"cannot render the Swarm stack {model.project}: {result.output}")
    prefix = f"{model.project}_"
    specs = {str(spec["Name"]).removeprefix(prefix): spec for spec in recording.services}
    return Rendered(specs, dict(facts.images))


def render_compose(images: Docker, model: Model, path: Path) -> Rendered:
    """The container create body `docker compose create` sends for each container of the model."""
    facts = _facts(images, _references(model))
    with fake_engine(facts) as (host, recording):
        create = ("create", "--pull", "never", "--no-build", "--no-recreate")
        result = images.for_target(None, host).compose(model.project, [path], None, *create, check=False)
    _checked(recording, f"the Compose project {model.project}")
    if result.returncode != 0:
        raise ConfigError(f"cannot render the Compose project {model.project}: {result.output}")
    specs = dict(recording.containers)
    for network, body in recording.connects:  # older APIs attach further networks after create
        for spec in specs.values():
            if spec["Id"] == body.get("Container"):
                endpoints = spec.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})
                endpoints[_network_name(recording, network)] = body.get("EndpointConfig") or {}
    return Rendered(specs, dict(facts.images))


def _network_name(recording: Recording, key: str) -> str:
    return next((name for name, net in recording.networks.items() if key in {name, net["Id"]}), key)
