"""How drift shows what differs (lmsops.drift.compare): the report `nox -s drift` prints, the one-line
form promote refuses with, and the revisions each image is checked against.

The report's example in docs/drift.md is reproduced from the recorded deploys (tests/unit/data/drift):
the same hand changes, through the same comparison, print the same blocks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.gitinfo import SourceInfo
from lmsops.drift import compose as drift_compose
from lmsops.drift import swarm as drift_swarm
from lmsops.drift.compare import Difference, Recorder, revisions_of
from lmsops.drift.report import LONG, around_difference, human, report
from lmsops.images.discovery import ImageSpec
from lmsops.images.plan import PlannedImage
from tests.unit.drift_fakes import declared_model, environment, recorded

DOCS = (Path(__file__).parents[2] / "docs" / "drift.md").read_text()


def docs_example_differences() -> list[Difference]:
    """The hand changes of the example in docs/drift.md, made to the recorded staging and dev catalog."""
    swarm = recorded("swarm.json")
    spec = copy.deepcopy(swarm["running"]["catalog"])
    spec["TaskTemplate"]["Placement"]["Constraints"] = ["node.labels.zone==a"]
    env = spec["TaskTemplate"]["ContainerSpec"]["Env"]
    env[env.index("LMS_LOG_LEVEL=info")] = "LMS_LOG_LEVEL=debug"
    spec["TaskTemplate"]["ContainerSpec"]["Mounts"].append({"Type": "volume", "Source": "x", "Target": "/x"})
    staging = Recorder("staging", "catalog")
    staging.fields(drift_swarm.spec_differences(swarm["rendered"]["catalog"], spec, {"networks": swarm["networks"]}))

    compose = recorded("compose.json")
    container = compose["running"]["lms-dev-catalog-1"]
    container["HostConfig"]["CpuShares"] = 512
    body = compose["rendered"]["lms-dev-catalog-1"]
    context = {**compose["engine"], "short_id": container["Id"][:12]}
    dev = Recorder("dev", "catalog")
    dev.fields(drift_compose.container_differences(body, compose["images"][body["Image"]], container, context))
    return [*staging.found, *dev.found]


def test_the_report_prints_each_difference_as_docs_drift_md_shows_it() -> None:
    differences = docs_example_differences()
    assert [d.path for d in differences] == [
        "TaskTemplate.ContainerSpec.Env.LMS_LOG_LEVEL",
        "TaskTemplate.ContainerSpec.Mounts",
        "TaskTemplate.Placement.Constraints",
        "HostConfig.CpuShares",
    ]
    printed = report(differences).splitlines()
    assert len(printed) == 3 * len(differences), "one block of three lines per difference"
    for start in range(0, len(printed), 3):
        block = "\n".join(printed[start : start + 3])
        assert block in DOCS, f"docs/drift.md does not show:\n{block}"


def test_a_state_difference_has_no_field_path_in_the_report() -> None:
    rec = Recorder("staging", "catalog")
    rec.check("state", "running tasks", 2, 1)
    rec.check("state", "unhealthy tasks", [], [])  # equal: no difference
    assert report(rec.found) == "staging  catalog  running tasks\n    declared: 2\n    running:  1"


def test_one_line_per_difference_for_messages_that_list_them() -> None:
    """What promote prints when the source environment drifted."""
    field, state = docs_example_differences()[2], Difference("staging", "catalog", "state", "health", "healthy", "none")
    assert field.line() == (
        "catalog: placement constraints (TaskTemplate.Placement.Constraints): declared (not set), "
        'running ["node.labels.zone==a"]'
    )
    assert state.line() == "catalog: health: declared healthy, running none"


def planned(name: str, reference: str, revision: str) -> PlannedImage:
    folder = Path("services") / name
    spec = ImageSpec(name, "service", folder, folder / "Dockerfile", "0.1.0", name, ("python",), ())
    return PlannedImage(spec, reference.rsplit("-", 1)[-1], reference, SourceInfo(revision, "file:///lms"), {})


def test_each_image_is_checked_against_the_commit_the_plan_says_it_was_built_from(tmp_path: Path) -> None:
    images = [
        planned("catalog", "lmsops/catalog:0.1.0-7c5424cff98a", "4086b160edc6e63f5f77aa69a4fb2af2d764e0dc"),
        planned("gateway", "lmsops/gateway:0.1.0-a6bdcf59b0cb", "1c202bc0c066c629a0baa92455863d7aca641941-dirty"),
    ]
    document: dict[str, Any] = {"services": {}}
    model = declared_model(environment("dev", "compose", "lms-dev"), document, tmp_path, images)
    assert revisions_of(model) == {
        "lmsops/catalog:0.1.0-7c5424cff98a": "4086b160edc6e63f5f77aa69a4fb2af2d764e0dc",
        "lmsops/gateway:0.1.0-a6bdcf59b0cb": "1c202bc0c066c629a0baa92455863d7aca641941-dirty",
    }


# -- human units and long values (lmsops.drift.report) -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "raw", "shown"),
    [
        ("TaskTemplate.Resources.Limits.MemoryBytes", "268435456", "256 MiB"),
        ("HostConfig.Memory", "1073741824", "1 GiB"),
        ("HostConfig.ShmSize", "100000000", "95.4 MiB (100000000 bytes)"),
        ("TaskTemplate.Resources.Limits.NanoCPUs", "500000000", "0.5 CPUs"),
        ("HostConfig.NanoCpus", "1000000000", "1 CPU"),
        ("TaskTemplate.ContainerSpec.StopGracePeriod", "3000000000", "3 s"),
        ("UpdateConfig.Monitor", "15000000000", "15 s"),
        ("TaskTemplate.ContainerSpec.Healthcheck.Interval", "500000000", "500 ms"),
        ("HostConfig.CpuQuota", "50000", "50 ms"),
        ("HostConfig.CpuShares", "512", "512"),  # a relative weight: no unit
        ("HostConfig.Memory", "0", "0 (no limit)"),
        ("HostConfig.NanoCpus", "0", "0 (no limit)"),
        ("HostConfig.MemorySwap", "-1", "-1"),
        ("TaskTemplate.Resources.Limits.MemoryBytes", "(not set)", "(not set)"),
        ("", "268435456", "268435456"),  # a state check has no field to take a unit from
    ],
)
def test_engine_numbers_are_shown_in_human_units(path: str, raw: str, shown: str) -> None:
    assert human(path, raw) == shown


def test_the_report_shows_units_on_both_sides() -> None:
    d = Difference("staging", "catalog", "resources", "memory limit", "268435456", "314572800",
                   "TaskTemplate.Resources.Limits.MemoryBytes")  # fmt: skip
    assert report([d]).splitlines()[1:] == ["    declared: 256 MiB", "    running:  300 MiB"]


def test_two_long_values_are_cut_around_their_difference_which_stays_whole() -> None:
    digest = "127.0.0.1:5000/lmsops/catalog@sha256:"
    declared, running = digest + "8f30" + "e" * 60, digest + "1a2b" + "e" * 60
    d = Difference("staging", "catalog", "image", "image", declared, running, "TaskTemplate.ContainerSpec.Image")
    assert report([d]).splitlines()[1:] == [
        f"    declared: …/catalog@sha256:8f30{'e' * 16}…",
        f"    running:  …/catalog@sha256:1a2b{'e' * 16}…",
    ]
    first, second = around_difference(declared, running)
    assert "8f30" in first and "1a2b" in second and len(first) < len(declared)


def test_a_difference_in_the_middle_of_long_lists_is_shown_in_full() -> None:
    common = ", ".join(f'"node.labels.n{i}==x"' for i in range(6))
    declared, running = f'[{common}, "zone==a", {common}]', f'[{common}, "zone==b-and-more", {common}]'
    first, second = around_difference(declared, running)
    assert first.startswith("…") and first.endswith("…") and '"zone==a"' in first
    assert '"zone==b-and-more"' in second


def test_short_values_and_a_long_against_a_short_one_are_printed_whole() -> None:
    assert around_difference("info", "debug") == ("info", "debug")
    long = "x" * (LONG + 10)
    assert around_difference(long, "(not set)") == (long, "(not set)")
    assert around_difference(long, long) == (long, long)
