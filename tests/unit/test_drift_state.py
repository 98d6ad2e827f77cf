"""Drift's state checks of a Swarm service (replicas, health, image id, revision label) against tasks
recorded from a real engine (tests/unit/data/convergence/swarm.json, moment "converged": two running
tasks); the containers' inspect documents are what each case makes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.labels import REVISION
from lmsops.drift.compare import Difference, Recorder, check_no_secret_in_plain_variables
from lmsops.drift.swarm import _check_tasks

DATA = json.loads((Path(__file__).parent / "data" / "convergence" / "swarm.json").read_text())
IMAGE = DATA["image"]
IMAGE_ID = "sha256:" + "a" * 64
REVISION_OF_TREE = "0123456789abcdef0123456789abcdef01234567"


class Engine:
    """The calls _check_tasks makes, answered from the recording and the case's containers."""

    def __init__(self, moment: str, health: str = "healthy", image_id: str = IMAGE_ID) -> None:
        self.tasks = DATA[moment]["tasks"]
        self.containers: dict[str, dict[str, Any]] = {}
        for task in self.tasks:
            container = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID", "")
            if container:
                self.containers[container] = {"Image": image_id, "State": {"Health": {"Status": health}}}
        self.labels = {REVISION: REVISION_OF_TREE}

    def service_tasks(self, service: str) -> list[dict[str, Any]]:
        return list(self.tasks)

    def container_inspect(self, name: str) -> dict[str, Any]:
        return self.containers[name]

    def image_id(self, ref: str) -> str | None:
        return IMAGE_ID if ref == IMAGE else None

    def image_labels(self, ref: str) -> dict[str, str]:
        return dict(self.labels)


def state_of(engine: Engine, replicas: int = 2, revision: str = REVISION_OF_TREE) -> list[Difference]:
    service = DATA["converged"]["services"][0]
    declared = {"TaskTemplate": {"ContainerSpec": {"Image": IMAGE}}, "Mode": {"Replicated": {"Replicas": replicas}}}
    rec = Recorder("staging", "web")
    _check_tasks(engine, rec, service, declared, {IMAGE: revision}, engine)  # type: ignore[arg-type]
    return rec.found


def test_two_healthy_tasks_of_the_declared_image_from_this_tree_are_no_drift() -> None:
    assert state_of(Engine("converged")) == []


def test_fewer_running_tasks_than_declared_is_named() -> None:
    [found] = state_of(Engine("converged"), replicas=3)
    assert (found.category, found.field, found.declared, found.running) == ("state", "running tasks", "3", "2")


def test_unhealthy_tasks_are_named_by_their_ids() -> None:
    [found] = state_of(Engine("converged", health="unhealthy"))
    assert (found.category, found.field) == ("state", "unhealthy tasks")
    ids = {t["ID"][:12] for t in DATA["converged"]["tasks"]}
    assert all(task_id in found.running for task_id in ids)


def test_a_task_on_another_image_id_than_the_reference_names_is_named() -> None:
    other = "sha256:" + "b" * 64
    [found] = state_of(Engine("converged", image_id=other))
    assert (found.category, found.field, found.declared, found.running) == ("image", "image id", IMAGE_ID, other)


def test_an_image_built_from_another_tree_is_named() -> None:
    [found] = state_of(Engine("converged"), revision="f" * 40)
    assert (found.category, found.field) == ("image", "revision label")
    assert (found.declared, found.running) == ("f" * 40, REVISION_OF_TREE)


def test_shutdown_and_failed_tasks_do_not_count_as_running() -> None:
    """After a rollback the recording holds shutdown and failed tasks besides the two running ones."""
    moment = "rollback_done"
    assert len(DATA[moment]["tasks"]) > 2
    assert state_of(Engine(moment)) == []


@pytest.mark.parametrize(("value", "named"), [("s3cret-value-1", True), ("short", False), ("other", False)])
def test_a_secrets_value_in_a_plain_variable_is_named_never_shown(value: str, named: bool) -> None:
    rec = Recorder("staging", "web")
    check_no_secret_in_plain_variables(rec, {"LMS_TOKEN": value}, ["s3cret-value-1", "short"])
    assert [d.field for d in rec.found] == (["env LMS_TOKEN"] if named else [])
    assert all("s3cret" not in f"{d.declared} {d.running}" for d in rec.found)
