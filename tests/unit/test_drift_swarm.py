"""Drift of a Swarm stack (lmsops.drift.swarm.compare_swarm) over a real deploy's recording.

tests/unit/data/drift/swarm.json holds what lmsops rendered for staging and the service specs Swarm
held right after the deploy; the render is answered from it (test_drift_render.py renders for real).
The manager (RecordedEngine) runs each service's declared replicas as healthy tasks, in the shape
of tests/unit/data/convergence/swarm.json, on the image the engine the images were pushed from
names. Each case changes what runs the way a person could, and drift must name exactly that.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.labels import REVISION
from lmsops.drift import swarm as drift_swarm
from lmsops.drift.compare import Difference
from lmsops.drift.render import Rendered
from lmsops.environments.model import Model
from tests.unit.drift_fakes import RecordedEngine, declared_model, environment, recorded

SWARM: dict[str, Any] = recorded("swarm.json")
CONVERGENCE = Path(__file__).parent / "data" / "convergence" / "swarm.json"
TASK: dict[str, Any] = json.loads(CONVERGENCE.read_text())["converged"]["tasks"][0]
STACK = "lms-staging"
IMAGES = {name: str(spec["TaskTemplate"]["ContainerSpec"]["Image"]) for name, spec in SWARM["rendered"].items()}
REVISIONS = {ref: hashlib.sha1(ref.encode()).hexdigest() for ref in IMAGES.values()}  # noqa: S324 (a fake commit)
SECRET = "staging-catalog-db-password-value"  # noqa: S105 (a test's secret file, never a real one)


def image_id(reference: str) -> str:
    return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()


class Stack:
    """What runs: the recorded specs, each service's tasks and their containers, and the images engine."""

    def __init__(self) -> None:
        self.specs: dict[str, dict[str, Any]] = copy.deepcopy(SWARM["running"])
        self.replicas = {name: int(spec["Mode"]["Replicated"]["Replicas"]) for name, spec in self.specs.items()}
        self.networks: dict[str, str] = dict(SWARM["networks"])
        self.images = {
            ref: {"Id": image_id(ref), "Config": {"Labels": {REVISION: REVISIONS[ref]}}} for ref in REVISIONS
        }
        self.inspect: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, list[dict[str, Any]]] = {}
        for name, count in self.replicas.items():
            self.tasks[f"{STACK}_{name}"] = [self.task(name, slot) for slot in range(1, count + 1)]

    def task(self, name: str, slot: int) -> dict[str, Any]:
        """A running task of the service, its container healthy on the declared image."""
        task = copy.deepcopy(TASK)
        container = hashlib.sha256(f"{name}.{slot}".encode()).hexdigest()
        task.update(ID=f"{name}{slot}".ljust(25, "x"), Slot=slot)
        task["Status"]["ContainerStatus"]["ContainerID"] = container
        self.inspect[container] = {"Image": image_id(IMAGES[name]), "State": {"Health": {"Status": "healthy"}}}
        return task

    def manager(self) -> RecordedEngine:
        services = [{"ID": f"{name}-id", "Spec": spec} for name, spec in self.specs.items()]
        return RecordedEngine(services=services, tasks=self.tasks, inspect=self.inspect, networks=self.networks)


@pytest.fixture
def rendered_with(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The render, answered from the recording; the engines it was asked to render with."""
    engines: list[Any] = []

    def recorded_render(images: Any, model: Model, path: Path) -> Rendered:
        assert path.read_text() == model.text, "the render reads the resolved model as written"
        engines.append(images)
        return Rendered(copy.deepcopy(SWARM["rendered"]), {})

    monkeypatch.setattr(drift_swarm, "render_swarm", recorded_render)
    return engines


def staging_model(folder: Path) -> Model:
    secret = folder / "secrets" / "catalog-db-password"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET + "\n")
    document = {
        "services": {name: {"image": ref} for name, ref in IMAGES.items()},
        "secrets": {"catalog-db-password": {"file": str(secret), "name": f"{STACK}_catalog-db-password_0"}},
    }
    return declared_model(environment("staging", "swarm", STACK), document, folder / "work")


def drift(folder: Path, stack: Stack, manager: RecordedEngine | None = None, **revisions: str) -> list[Difference]:
    images = RecordedEngine(images=stack.images)
    expected = REVISIONS | {IMAGES[name]: revision for name, revision in revisions.items()}
    return drift_swarm.compare_swarm(manager or stack.manager(), staging_model(folder), expected, images)


def found(differences: list[Difference]) -> list[tuple[str, str, str, str, str]]:
    return [(d.service, d.category, d.field, d.declared, d.running) for d in differences]


def test_a_stack_running_what_is_declared_shows_no_difference(tmp_path: Path, rendered_with: list[Any]) -> None:
    stack = Stack()
    manager = stack.manager()
    assert drift(tmp_path, stack, manager) == []
    assert manager.asked_networks == [sorted(SWARM["networks"])], "the stack's network IDs, named by the manager"
    [images] = rendered_with
    assert images is not manager, "rendered with the engine the images were pushed from"


def test_a_service_in_the_stack_that_no_file_declares_is_named(tmp_path: Path, rendered_with: list[Any]) -> None:
    stack = Stack()
    adminer = copy.deepcopy(stack.specs["gateway"])
    adminer["Name"] = f"{STACK}_adminer"
    stack.specs["adminer"] = adminer
    assert found(drift(tmp_path, stack)) == [
        ("adminer", "presence", "service", "(not declared)", "running in the stack")
    ]


def test_a_declared_service_missing_from_the_stack_is_named(tmp_path: Path, rendered_with: list[Any]) -> None:
    stack = Stack()
    del stack.specs["gateway"]
    assert found(drift(tmp_path, stack)) == [("gateway", "presence", "service", "running", "not in the stack")]


def test_a_service_scaled_by_hand_is_named_in_its_spec_and_its_tasks(tmp_path: Path, rendered_with: list[Any]) -> None:
    stack = Stack()
    stack.specs["catalog"]["Mode"]["Replicated"]["Replicas"] = 3  # docker service scale lms-staging_catalog=3
    stack.tasks[f"{STACK}_catalog"].append(stack.task("catalog", 3))
    differences = drift(tmp_path, stack)
    assert found(differences) == [
        ("catalog", "replicas", "desired replicas", "2", "3"),
        ("catalog", "state", "running tasks", "2", "3"),
    ]
    assert [d.path for d in differences] == ["Mode.Replicated.Replicas", ""]


def test_a_network_attached_by_hand_is_named_by_its_name_not_its_id(tmp_path: Path, rendered_with: list[Any]) -> None:
    stack = Stack()
    stack.specs["catalog"]["TaskTemplate"]["Networks"].append({"Target": "k3v9debugnetwork0000000000"})
    stack.networks["k3v9debugnetwork0000000000"] = f"{STACK}_debug"
    [difference] = drift(tmp_path, stack)
    assert (difference.service, difference.field, difference.path) == ("catalog", "networks", "TaskTemplate.Networks")
    assert difference.declared == '[{"Aliases": ["catalog"], "Target": "lms-staging_backend"}]'
    assert difference.running == (
        '[{"Aliases": ["catalog"], "Target": "lms-staging_backend"}, {"Target": "lms-staging_debug"}]'
    )


def test_tasks_whose_container_the_manager_cannot_inspect_count_as_running_and_are_not_judged(
    tmp_path: Path, rendered_with: list[Any]
) -> None:
    """A task on another node (its container is not on the manager), or one that names no container."""
    stack = Stack()
    first, second = stack.tasks[f"{STACK}_catalog"]
    del first["Status"]["ContainerStatus"]
    stack.inspect.pop(second["Status"]["ContainerStatus"]["ContainerID"])
    assert drift(tmp_path, stack) == []


def test_the_declared_image_is_looked_up_on_the_engine_it_was_pushed_from(
    tmp_path: Path, rendered_with: list[Any]
) -> None:
    """The manager holds no image here; an image missing from the images engine is named as such."""
    stack = Stack()
    del stack.images[IMAGES["catalog"]]
    assert found(drift(tmp_path, stack)) == [
        ("catalog", "image", "image id", "(not on this engine)", image_id(IMAGES["catalog"])),
        ("catalog", "image", "revision label", REVISIONS[IMAGES["catalog"]], "(not set)"),
    ]


def test_an_image_built_from_another_tree_than_the_declared_one_is_named(
    tmp_path: Path, rendered_with: list[Any]
) -> None:
    expected = ("enrollment", "image", "revision label", "f" * 40, REVISIONS[IMAGES["enrollment"]])
    assert found(drift(tmp_path, Stack(), enrollment="f" * 40)) == [expected]


def test_a_secrets_value_in_a_plain_variable_is_named_without_its_value(
    tmp_path: Path, rendered_with: list[Any]
) -> None:
    stack = Stack()
    stack.specs["catalog"]["TaskTemplate"]["ContainerSpec"]["Env"].append(f"LMS_DEBUG_DSN={SECRET}")
    differences = drift(tmp_path, stack)
    assert [d.path for d in differences] == ["TaskTemplate.ContainerSpec.Env.LMS_DEBUG_DSN", ""]
    assert found(differences[1:]) == [
        ("catalog", "environment", "env LMS_DEBUG_DSN", "(no secret in a plain variable)", "a secret's value")
    ]
    assert all(SECRET not in f"{d.declared} {d.running}" for d in differences), "the report never shows the value"


def test_a_secret_inside_a_longer_value_is_found_and_masked_in_every_difference(
    tmp_path: Path, rendered_with: list[Any]
) -> None:
    """A DSN that embeds the password is a secret in a plain variable too; drift's report (terminals,
    CI logs) shows where it is, never the value."""
    stack = Stack()
    dsn = f"postgresql://catalog:{SECRET}@postgres/catalog"
    stack.specs["catalog"]["TaskTemplate"]["ContainerSpec"]["Env"].append(f"LMS_DEBUG_DSN={dsn}")
    differences = drift(tmp_path, stack)
    assert [d.field for d in differences] == ["env LMS_DEBUG_DSN", "env LMS_DEBUG_DSN"]
    assert differences[0].running == "LMS_DEBUG_DSN=postgresql://catalog:<a secret's value>@postgres/catalog"
    assert differences[1].running == "a secret's value"
    assert all(SECRET not in f"{d.declared} {d.running}" for d in differences)
