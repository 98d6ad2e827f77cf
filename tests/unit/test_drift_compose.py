"""Drift of a Compose project (lmsops.drift.compose.compare_compose) over a real deploy's recording.

tests/unit/data/drift/compose.json holds what lmsops rendered for dev and what the engine reported
running right after the deploy; the render is answered from it (test_drift_render.py renders for
real) and the engine is RecordedEngine. Each case changes what runs the way a person could, and
drift must name exactly that: containers nobody declared, declared ones missing, state, health, a
setting changed by hand, an image from another tree, a secret's value in a plain variable.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.labels import REVISION
from lmsops.drift import compose as drift_compose
from lmsops.drift.compare import Difference
from lmsops.drift.render import Rendered
from lmsops.environments.model import Model
from tests.unit.drift_fakes import RecordedEngine, declared_model, environment, recorded

COMPOSE: dict[str, Any] = recorded("compose.json")
SERVICE_LABEL = "com.docker.compose.service"
IMAGES = {
    body["Labels"][SERVICE_LABEL]: str(body["Image"]) for body in COMPOSE["rendered"].values()
}  # service -> image reference
REVISIONS = {ref: doc["Config"]["Labels"][REVISION] for ref, doc in COMPOSE["images"].items()}
ENGINE = COMPOSE["engine"]
SECRET = "dev-catalog-db-password-value"  # noqa: S105 (a test's secret file, never a real one)


@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the render answers (the recorded rendering; a test may change it), and where it was asked."""
    answer: dict[str, Any] = {"specs": copy.deepcopy(COMPOSE["rendered"]), "paths": []}

    def recorded_render(images: Any, model: Model, path: Path) -> Rendered:
        assert path.read_text() == model.text, "the render reads the resolved model as written"
        answer["paths"].append(path)
        return Rendered(answer["specs"], copy.deepcopy(COMPOSE["images"]))

    monkeypatch.setattr(drift_compose, "render_compose", recorded_render)
    return answer


@pytest.fixture
def running() -> dict[str, dict[str, Any]]:
    """container name -> its inspect document, as the engine reported it after the deploy."""
    return copy.deepcopy(COMPOSE["running"])


def dev_model(folder: Path) -> Model:
    secret = folder / "secrets" / "catalog-db-password"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET + "\n")
    document = {
        "name": "lms-dev",
        "services": {service: {"image": ref} for service, ref in IMAGES.items()},
        "secrets": {"catalog-db-password": {"file": str(secret)}, "unused": {"file": str(folder / "none")}},
    }
    return declared_model(environment("dev", "compose", "lms-dev"), document, folder / "work")


def drift(
    folder: Path, running: dict[str, dict[str, Any]], revisions: dict[str, str] | None = None
) -> list[Difference]:
    engine = RecordedEngine(
        images=COMPOSE["images"],
        containers=list(running.values()),
        defaults=(ENGINE["logging_driver"], ENGINE["runtime"], ENGINE["cgroup_version"]),
    )
    return drift_compose.compare_compose(engine, dev_model(folder), REVISIONS if revisions is None else revisions)


def found(differences: list[Difference]) -> list[tuple[str, str, str, str, str]]:
    return [(d.service, d.category, d.field, d.declared, d.running) for d in differences]


def test_a_project_running_what_is_declared_shows_no_difference(
    tmp_path: Path, declared: dict[str, Any], running: dict[str, dict[str, Any]]
) -> None:
    assert drift(tmp_path, running) == []
    assert declared["paths"] == [tmp_path / "work" / "drift-model.yaml"], "rendered from the model deploy writes"


def test_a_setting_changed_by_hand_is_named_with_its_path_and_both_values(
    tmp_path: Path, declared: dict[str, Any], running: dict[str, dict[str, Any]]
) -> None:
    running["lms-dev-catalog-1"]["HostConfig"]["Memory"] = 314572800  # docker update --memory 300m
    [difference] = drift(tmp_path, running)
    assert (difference.env, difference.path) == ("dev", "HostConfig.Memory")
    assert found([difference]) == [("catalog", "resources", "memory limit", "0", "314572800")]


def test_a_container_no_file_declares_is_named_by_its_service(
    tmp_path: Path, declared: dict[str, Any], running: dict[str, dict[str, Any]]
) -> None:
    shell = copy.deepcopy(running["lms-dev-gateway-1"])
    shell.update(Name="/lms-dev-debug-shell-1", Id="d" * 64)
    shell["Config"]["Labels"][SERVICE_LABEL] = "debug-shell"
    running["lms-dev-debug-shell-1"] = shell
    assert found(drift(tmp_path, running)) == [("debug-shell", "presence", "service", "(not declared)", "1 container")]


def test_a_declared_container_that_does_not_exist_is_named_and_nothing_else_of_it_checked(
    tmp_path: Path, declared: dict[str, Any], running: dict[str, dict[str, Any]]
) -> None:
    """Not even the image's revision: nothing runs it."""
    del running["lms-dev-gateway-1"]
    revisions = {**REVISIONS, IMAGES["gateway"]: "f" * 40}
    differences = drift(tmp_path, running, revisions)
    assert found(differences) == [("gateway", "presence", "container lms-dev-gateway-1", "running", "not created")]


def test_a_second_container_started_by_hand_for_a_declared_service_is_named(
    tmp_path: Path, declared: dict[str, Any], running: dict[str, dict[str, Any]]
) -> None:
    extra = copy.deepcopy(running["lms-dev-catalog-1"])
    extra.update(Name="/lms-dev-catalog-2", Id="e" * 64)
    extra["State"] = {"Status": "exited", "Running": False}
    running["lms-dev-catalog-2"] = extra
    expected = ("catalog", "presence", "container lms-dev-catalog-2", "(not declared)", "exited")
    assert found(drift(tmp_path, running)) == [expected]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"Status": "exited", "Running": False}, [("state", "running", "exited"), ("health", "healthy", "none")]),
        ({"Status": "running", "Health": {"Status": "unhealthy"}}, [("health", "healthy", "unhealthy")]),
        ({"Status": "running", "Health": {"Status": "starting"}}, [("health", "healthy", "starting")]),
    ],
)
def test_a_container_not_running_or_not_healthy_is_named(
    tmp_path: Path,
    declared: dict[str, Any],
    running: dict[str, dict[str, Any]],
    state: dict[str, Any],
    expected: list[tuple[str, str, str]],
) -> None:
    running["lms-dev-enrollment-1"]["State"] = state
    differences = drift(tmp_path, running)
    assert {(d.service, d.category) for d in differences} == {("enrollment", "state")}
    assert [(d.field, d.declared, d.running) for d in differences] == expected


def test_each_container_of_a_service_with_several_is_named_in_its_differences(
    tmp_path: Path, declared: dict[str, Any], running: dict[str, dict[str, Any]]
) -> None:
    declared["specs"]["lms-dev-catalog-2"] = copy.deepcopy(declared["specs"]["lms-dev-catalog-1"])
    second = copy.deepcopy(running["lms-dev-catalog-1"])
    second["Name"] = "/lms-dev-catalog-2"
    second["HostConfig"]["PidsLimit"] = 100
    second["State"]["Health"]["Status"] = "unhealthy"
    running["lms-dev-catalog-2"] = second
    assert found(drift(tmp_path, running)) == [
        ("catalog", "resources", "lms-dev-catalog-2: pids limit", "(not set)", "100"),
        ("catalog", "state", "lms-dev-catalog-2: health", "healthy", "unhealthy"),
    ]


def test_an_image_built_from_another_tree_than_the_declared_one_is_named(
    tmp_path: Path, declared: dict[str, Any], running: dict[str, dict[str, Any]]
) -> None:
    revisions = {**REVISIONS, IMAGES["catalog"]: "f" * 40}
    expected = ("catalog", "image", "revision label", "f" * 40, REVISIONS[IMAGES["catalog"]])
    assert found(drift(tmp_path, running, revisions)) == [expected]


def test_a_secrets_value_in_a_plain_variable_is_named_without_its_value(
    tmp_path: Path, declared: dict[str, Any], running: dict[str, dict[str, Any]]
) -> None:
    running["lms-dev-catalog-1"]["Config"]["Env"].append(f"LMS_DEBUG_DSN={SECRET}")
    differences = drift(tmp_path, running)
    secret_check = [d for d in differences if d.path == ""]
    assert found(secret_check) == [
        ("catalog", "environment", "env LMS_DEBUG_DSN", "(no secret in a plain variable)", "a secret's value")
    ]
    assert [d.path for d in differences if d.path] == ["Config.Env.LMS_DEBUG_DSN"]  # and the variable itself


def test_a_declared_healthcheck_keeps_what_it_leaves_unset_from_the_image() -> None:
    """moby's merge: each unset part of a declared healthcheck (no test, zero durations) is the image's."""
    image = COMPOSE["images"][IMAGES["catalog"]]["Config"]
    merged = drift_compose.merge_image_config({"Healthcheck": {"Test": None, "Interval": 5_000_000_000}}, image)
    assert merged["Healthcheck"] == {**image["Healthcheck"], "Interval": 5_000_000_000}
    assert merged["Healthcheck"]["Test"] == ["CMD", "lms-healthcheck", "/healthz"]
