"""The Swarm convergence watch against JSON recorded from a real engine (tests/unit/data/convergence).

Each recording is one reading of a service and its tasks at a moment the watch must tell apart:
converged, an update under way and completed, a rollback under way and completed, a task that keeps
failing. `record.py` beside the data regenerates it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.paths import Repo
from lmsops.core.swarmapi import running_task
from lmsops.environments.config import load_environment
from lmsops.environments.model import model_services
from lmsops.targets.swarm import ServiceProgress, SwarmTarget, _observe, _read_stack

DATA = json.loads((Path(__file__).parent / "data" / "convergence" / "swarm.json").read_text())
STACK, NAME = "lmsrec", "web"


class Recorded:
    """Answers stack_services / stack_tasks with one recorded moment (what _read_stack asks)."""

    def __init__(self, moment: str) -> None:
        self.moment = DATA[moment]

    def stack_services(self, stack: str) -> list[dict[str, Any]]:
        assert stack == STACK
        return list(self.moment["services"])

    def stack_tasks(self, stack: str) -> list[dict[str, Any]]:
        assert stack == STACK
        return list(self.moment["tasks"])


def observe(moment: str, progress: ServiceProgress) -> ServiceProgress:
    services, tasks = _read_stack(Recorded(moment), STACK)  # type: ignore[arg-type]
    _observe(services, tasks, STACK, progress)
    return progress


def running_ids(moment: str) -> frozenset[str]:
    return frozenset(str(t["ID"]) for t in DATA[moment]["tasks"] if running_task(t))


def update_status(moment: str) -> dict[str, Any]:
    return dict(DATA[moment]["services"][0].get("UpdateStatus") or {})


def watching(before: str) -> ServiceProgress:
    """The watch as deploy starts it, when the engine looked like the moment `before`."""
    return ServiceProgress(NAME, DATA["image"], 2, running_ids(before), update_status(before))


def test_the_recordings_are_the_moments_they_claim() -> None:
    """Guards the data itself: a re-recording that missed its moment fails here, not in a test below."""
    states = {moment: update_status(moment).get("State", "") for moment in DATA if isinstance(DATA[moment], dict)}
    assert states == {
        "converged": "",
        "updating": "updating",
        "updated": "completed",
        "rollback_started": "rollback_started",
        "rollback_done": "rollback_completed",
        "restarting": "updating",
    }


def test_a_converged_service_with_nothing_to_do_is_done_and_unchanged() -> None:
    progress = observe("converged", watching("converged"))
    assert (progress.done, progress.changed, progress.running, progress.failure) == (True, False, 2, "")


def test_an_update_under_way_is_not_done_and_not_a_failure() -> None:
    progress = observe("updating", watching("converged"))
    assert not progress.done and progress.failure == ""


def test_a_completed_update_is_done_with_new_tasks() -> None:
    progress = observe("updated", watching("converged"))
    assert (progress.done, progress.changed, progress.running, progress.failure) == (True, True, 2, "")


def test_a_rollback_under_way_is_waited_for() -> None:
    """Swarm is still putting the old tasks back: neither done nor failed yet (it may still fail)."""
    progress = observe("rollback_started", watching("updated"))
    assert not progress.done and progress.failure == ""


def test_a_completed_rollback_is_a_failure_naming_swarm_and_the_task_error() -> None:
    progress = observe("rollback_done", watching("updated"))
    assert progress.failure.startswith("Swarm rolled it back (rollback_completed)")
    assert progress.last_error, "the failed task's own error is kept for the message"


def test_a_rollback_from_before_this_deploy_is_not_taken_for_this_ones() -> None:
    """The service still shows the rollback an earlier deploy caused; this deploy changes nothing."""
    progress = observe("rollback_done", watching("rollback_done"))
    assert progress.failure == ""
    assert progress.done and not progress.changed


def test_a_task_that_keeps_failing_is_never_done_and_its_error_is_kept() -> None:
    progress = observe("restarting", watching("rollback_done"))
    assert not progress.done and progress.failure == ""
    assert "exit" in progress.last_error, progress.last_error


@pytest.mark.parametrize("moment", ["converged", "updated", "rollback_done"])
def test_a_service_of_another_name_is_left_alone(moment: str) -> None:
    progress = observe(moment, ServiceProgress("other", DATA["image"], 1, frozenset(), {}))
    assert (progress.done, progress.failure, progress.running) == (False, "", 0)


class RecordedWithLabels(Recorded):
    def image_labels(self, ref: str) -> dict[str, str]:
        return {"org.opencontainers.image.revision": "0123456789abcdef"}


@pytest.mark.parametrize(
    ("moment", "running", "health"),
    [
        ("converged", 2, "healthy"),
        ("updated", 2, "healthy, last update completed"),
        ("rollback_done", 2, "healthy, last update rollback_completed"),
        ("restarting", 0, "degraded, last update updating"),
    ],
)
def test_swarm_status_rows_from_the_recorded_stack(
    project: Repo, tmp_path: Path, moment: str, running: int, health: str
) -> None:
    env = load_environment(project, "staging", model_services(project))
    env = dataclasses.replace(
        env, file=env.file.model_copy(update={"target": env.target.model_copy(update={"name": STACK})})
    )
    target = SwarmTarget(env, RecordedWithLabels(moment), tmp_path)  # type: ignore[arg-type]
    [row] = target.status()
    assert (row.service, row.desired, row.running, row.health) == (NAME, 2, running, health)
    assert (row.image, row.revision) == (DATA["image"], "0123456789ab")
