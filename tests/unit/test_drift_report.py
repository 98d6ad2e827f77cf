"""How drift shows what differs (lmsops.drift.compare): the report `nox -s drift` prints, the one-line
form promote refuses with, and the revisions each image is checked against.

The report's example in docs/drift.md is reproduced from the recorded deploys (tests/unit/data/drift):
the same hand changes, through the same comparison, print the same blocks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from lmsops.core.gitinfo import SourceInfo
from lmsops.drift import compose as drift_compose
from lmsops.drift import swarm as drift_swarm
from lmsops.drift.compare import Difference, Recorder, revisions_of
from lmsops.drift.report import report
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
