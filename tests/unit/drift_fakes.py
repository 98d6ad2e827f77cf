"""Helpers of the drift unit tests: an engine answered from recordings, and small declared models.

RecordedEngine stands for the real engine drift reads (images, containers, services, tasks); every
answer comes from engine JSON recorded by tests/unit/data/drift/record.py or from what a test sets,
and any other docker call fails the test, so no unit test reaches a real engine. Its `for_target` is
the real adapter's: `docker stack deploy` and `docker compose create` run for real, against
lmsops's fake engine, as they do in the product.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from lmsops.environments.config import EnvFile, Environment, Target
from lmsops.environments.model import Model
from lmsops.environments.schema import Schema
from lmsops.images.plan import PlannedImage

DATA = Path(__file__).parent / "data" / "drift"


def recorded(name: str) -> Any:
    """One recording of tests/unit/data/drift (compose.json, swarm.json, version.json), parsed afresh."""
    return json.loads((DATA / name).read_text())


class RecordedEngine(Docker):
    """The docker adapter, answered from recordings: what the engine holds is what the test gives it."""

    def __init__(
        self,
        *,
        images: Mapping[str, dict[str, Any]] | None = None,
        version: dict[str, Any] | None = None,
        containers: Sequence[dict[str, Any]] = (),
        services: Sequence[dict[str, Any]] = (),
        tasks: Mapping[str, list[dict[str, Any]]] | None = None,
        inspect: Mapping[str, dict[str, Any]] | None = None,
        networks: Mapping[str, str] | None = None,
        defaults: tuple[str, str, str] = ("json-file", "runc", "1"),
    ) -> None:
        super().__init__("docker")  # for_target: the real docker client, aimed at the fake engine
        self.images = dict(images or {})
        self.version = version if version is not None else recorded("version.json")
        self.containers = list(containers)
        self.services = list(services)
        self.tasks = dict(tasks or {})
        self.inspect = dict(inspect or {})
        self.networks = dict(networks or {})
        self.defaults = defaults
        self.asked_networks: list[list[str]] = []
        self.hosts: list[str | None] = []  # the engines the deploy tools were aimed at (DOCKER_HOST)

    def for_target(self, context: str | None, host: str | None) -> Docker:
        self.hosts.append(host)
        return super().for_target(context, host)

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result:
        raise AssertionError(f"a unit test asked a real engine for `docker {' '.join(args)}`")

    def image_inspect(self, ref: str) -> dict[str, object] | None:
        return self.images.get(ref)

    def server_version(self) -> dict[str, Any]:
        return dict(self.version)

    def engine_defaults(self) -> tuple[str, str, str]:
        return self.defaults

    def inspect_containers(self, label: str) -> list[dict[str, Any]]:
        key, _, value = label.partition("=")
        return [c for c in self.containers if (c["Config"].get("Labels") or {}).get(key) == value]

    def stack_services(self, stack: str) -> list[dict[str, Any]]:
        return [s for s in self.services if str(s["Spec"]["Name"]).startswith(f"{stack}_")]

    def service_tasks(self, service: str) -> list[dict[str, Any]]:
        return list(self.tasks.get(service, []))

    def container_inspect(self, name: str) -> dict[str, object]:
        if name not in self.inspect:  # what the client says for a container on another node
            raise CommandError(["docker", "container", "inspect", name], 1, f"Error: No such container: {name}")
        return dict(self.inspect[name])

    def network_names(self, ids: Sequence[str]) -> dict[str, str]:
        self.asked_networks.append(list(ids))
        return {i: self.networks[i] for i in ids if i in self.networks}


def environment(name: str, kind: Literal["compose", "swarm"], project: str) -> Environment:
    """A validated environment as load_environment returns it, for a target of that kind and name."""
    return Environment(name, EnvFile(target=Target(kind=kind, name=project)), Schema(), {})


def declared_model(
    env: Environment, document: dict[str, Any], folder: Path, images: Sequence[PlannedImage] = ()
) -> Model:
    """A resolved model of env whose YAML is document; rendered files go to folder (where deploy writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(document, sort_keys=True, default_flow_style=False)
    return Model(env, [], folder / "compose.env", list(images), document, text)
