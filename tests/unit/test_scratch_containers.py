"""Throw-away containers for checks and tests (lmsops.targets.containers): each gets a unique name
under its prefix and the scratch label, and is removed whatever happens in the block; leftovers of an
interrupted run are found by that label and removed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from lmsops.targets.containers import TEST_LABEL, remove_leftovers, scratch_container


class Engine(Docker):
    """Containers by name; run_detached fails for the image `broken`."""

    def __init__(self) -> None:
        super().__init__("fake-docker")
        self.containers: dict[str, dict[str, object]] = {}
        self.removed: list[str] = []

    def run_detached(  # type: ignore[override]  # only what scratch_container passes
        self,
        image: str,
        *,
        name: str,
        labels: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        binds: Sequence[tuple[Path, str]] = (),
        args: Sequence[str] = (),
    ) -> str:
        # The engine creates the container before it fails to start it: it must still be removed.
        self.containers[name] = {"image": image, "labels": dict(labels), "env": env, "binds": list(binds), "args": args}
        if image == "broken":
            raise CommandError(["docker", "run", name], 125, "executable file not found")
        return f"id-{name}"

    def remove_container(self, name: str) -> None:
        self.removed.append(name)
        self.containers.pop(name, None)

    def containers_with_label(self, label: str) -> list[str]:
        key, _, value = label.partition("=")
        return [name for name, c in self.containers.items() if dict(c["labels"]).get(key) == value]  # type: ignore[call-overload]


def test_a_scratch_container_runs_under_a_unique_labelled_name_and_is_removed_after() -> None:
    engine = Engine()
    binds = [(Path("/work/app"), "/app")]
    with scratch_container(engine, "lmsops/python:3.11-1", args=["sleep", "infinity"], env={"A": "1"}, binds=binds,
                           prefix="lmsops-it") as name, scratch_container(engine, "lmsops/python:3.11-1",
                                                                          prefix="lmsops-it") as other:  # fmt: skip
        assert re.fullmatch(r"lmsops-it-[0-9a-f]{8}", name) and name != other
        assert engine.containers[name] == {
            "image": "lmsops/python:3.11-1", "labels": {TEST_LABEL: "lmsops-it"}, "env": {"A": "1"},
            "binds": binds, "args": ["sleep", "infinity"],
        }  # fmt: skip
    assert engine.containers == {}


def test_the_container_is_removed_when_the_block_fails_or_the_container_does_not_start() -> None:
    engine = Engine()
    with pytest.raises(AssertionError), scratch_container(engine, "lmsops/python:3.11-1") as name:
        raise AssertionError("the check failed")
    with pytest.raises(CommandError), scratch_container(engine, "broken"):
        pytest.fail("the block must not run")
    assert engine.containers == {}
    assert len(engine.removed) == 2 and engine.removed[0] == name


def test_leftovers_of_an_interrupted_run_are_removed_by_prefix_only() -> None:
    engine = Engine()
    engine.containers = {
        "lmsops-it-1": {"labels": {TEST_LABEL: "lmsops-it"}},
        "lmsops-it-2": {"labels": {TEST_LABEL: "lmsops-it"}},
        "lmsops-bench-1": {"labels": {TEST_LABEL: "lmsops-bench"}},  # another run's
        "lms-dev-web-1": {"labels": {}},
    }
    assert remove_leftovers(engine, "lmsops-it") == 2
    assert sorted(engine.containers) == ["lms-dev-web-1", "lmsops-bench-1"]
    assert remove_leftovers(engine, "lmsops-it") == 0
