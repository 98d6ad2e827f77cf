"""The drift comparison over engine JSON recorded from a real deploy (tests/unit/data/drift/record.py).

A clean deploy gives no difference; every field of a running spec or container, changed, is
reported by its path, except what the explicit rule lists name; fields added by hand are reported.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmsops.drift import compose as drift_compose
from lmsops.drift import swarm as drift_swarm
from lmsops.drift.compare import CATEGORIES, category_of, field_name
from lmsops.drift.specdiff import Rule, compare, join, matches, normalise

DATA = Path(__file__).parent / "data" / "drift"
SWARM = json.loads((DATA / "swarm.json").read_text())
COMPOSE = json.loads((DATA / "compose.json").read_text())


def swarm_differences(name: str, running: dict[str, Any]) -> list[str]:
    context = {"networks": SWARM["networks"]}
    return [d.path for d in drift_swarm.spec_differences(SWARM["rendered"][name], running, context)]


def compose_differences(name: str, running: dict[str, Any]) -> list[str]:
    body = COMPOSE["rendered"][name]
    image = COMPOSE["images"][body["Image"]]
    context = {**COMPOSE["engine"], "short_id": running["Id"][:12]}
    return [d.path for d in drift_compose.container_differences(body, image, running, context)]


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, list[Any]]]:
    """(path, key chain) of every scalar or list in a document (lists count as one field)."""

    def walk(node: Any, path: str, keys: list[Any]) -> Iterator[tuple[str, list[Any]]]:
        if isinstance(node, dict) and node:
            for key, item in node.items():
                yield from walk(item, join(path, key), [*keys, key])
        else:
            yield path, keys

    yield from walk(value, path, [])


def changed_value(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 7
    if isinstance(value, list):
        return [*value, "by-hand"] if all(isinstance(v, str) for v in value) else [*value, {"Target": "/by-hand"}]
    if value is None:
        return "by-hand"
    return f"{value}-by-hand"


def set_at(document: dict[str, Any], keys: list[Any], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node = changed
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return changed


def ignored(rules: tuple[Rule, ...], path: str) -> bool:
    return any(r.action == "ignore" and matches(r.pattern, path) for r in rules)


# --- Swarm ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SWARM["running"]))
def test_a_clean_swarm_deploy_shows_no_difference(name: str) -> None:
    assert swarm_differences(name, SWARM["running"][name]) == []


@pytest.mark.parametrize("name", sorted(SWARM["running"]))
def test_every_field_of_a_swarm_spec_changed_by_hand_is_reported(name: str) -> None:
    running = SWARM["running"][name]
    missed = []
    for path, keys in leaves(running):
        if ignored(drift_swarm.RULES, path):
            continue
        found = swarm_differences(name, set_at(running, keys, changed_value(_value(running, keys))))
        if not any(path.startswith(f) or f.startswith(path) for f in found):
            missed.append(path)
    assert missed == []


def _value(document: dict[str, Any], keys: list[Any]) -> Any:
    node: Any = document
    for key in keys:
        node = node[key]
    return node


HAND_MADE_SWARM = {
    "TaskTemplate.Placement.Constraints": ["node.role==manager"],
    "TaskTemplate.ContainerSpec.Hosts": ["by-hand:127.0.0.1"],
    "TaskTemplate.ContainerSpec.Healthcheck": {"Test": ["CMD", "true"], "Interval": 7_000_000_000},
    "TaskTemplate.ContainerSpec.Sysctls": {"net.core.somaxconn": "1024"},
    "TaskTemplate.ContainerSpec.Init": True,
    "TaskTemplate.LogDriver": {"Name": "json-file"},
    "TaskTemplate.Resources.Reservations.GenericResources": [{"DiscreteResourceSpec": {"Kind": "x", "Value": 1}}],
}


@pytest.mark.parametrize("path", sorted(HAND_MADE_SWARM))
def test_a_field_added_by_hand_to_a_swarm_spec_is_reported(path: str) -> None:
    running = copy.deepcopy(SWARM["running"]["catalog"])
    node = running
    *parents, key = path.split(".")
    for parent in parents:
        node = node.setdefault(parent, {})
    node[key] = HAND_MADE_SWARM[path]
    found = swarm_differences("catalog", running)
    assert found and all(f.startswith(path) for f in found), found


def test_release_labels_and_the_force_counter_are_not_drift() -> None:
    running = copy.deepcopy(SWARM["running"]["catalog"])
    running["Labels"]["org.lmsops.release.commit"] = "0" * 40
    running["Labels"]["org.lmsops.release.config"] = "f" * 12
    running["TaskTemplate"]["ForceUpdate"] = 3
    assert swarm_differences("catalog", running) == []


def test_an_engine_default_is_accepted_only_at_its_value() -> None:
    running = copy.deepcopy(SWARM["running"]["catalog"])
    assert running["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 10_000_000_000
    running["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] = 20_000_000_000
    assert swarm_differences("catalog", running) == ["TaskTemplate.ContainerSpec.StopGracePeriod"]


def test_environment_variables_are_compared_one_by_one_in_any_order() -> None:
    running = copy.deepcopy(SWARM["running"]["catalog"])
    env = running["TaskTemplate"]["ContainerSpec"]["Env"]
    env.reverse()
    assert swarm_differences("catalog", running) == []
    env.append("LMS_BY_HAND=1")
    assert swarm_differences("catalog", running) == ["TaskTemplate.ContainerSpec.Env.LMS_BY_HAND"]


# --- Compose -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMPOSE["running"]))
def test_a_clean_compose_deploy_shows_no_difference(name: str) -> None:
    assert compose_differences(name, COMPOSE["running"][name]) == []


COMPARED_PARTS = ("Image", "Config", "HostConfig", "NetworkSettings")


@pytest.mark.parametrize("name", sorted(COMPOSE["running"]))
def test_every_field_of_a_container_changed_by_hand_is_reported(name: str) -> None:
    running = COMPOSE["running"][name]
    missed = []
    for path, keys in leaves({k: running[k] for k in COMPARED_PARTS}):
        if ignored(drift_compose.RULES, path):
            continue
        found = compose_differences(name, set_at(running, keys, changed_value(_value(running, keys))))
        if not any(path.startswith(f) or f.startswith(path) for f in found):
            missed.append(path)
    assert missed == []


HAND_MADE_CONTAINER = {  # what `docker update` and a recreated container change
    "HostConfig.CpuShares": 512,
    "HostConfig.Memory": 314572800,
    "HostConfig.CpusetCpus": "0",
    "HostConfig.PidsLimit": 100,
    "HostConfig.RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
    "HostConfig.CapAdd": ["NET_ADMIN"],
    "HostConfig.Privileged": True,
    "HostConfig.Binds": ["/srv:/srv"],
    "Config.Labels.by-hand": "1",
}


@pytest.mark.parametrize("path", sorted(HAND_MADE_CONTAINER))
def test_a_container_setting_changed_by_docker_update_is_reported(path: str) -> None:
    name = next(n for n in COMPOSE["running"] if "catalog" in n)
    running = copy.deepcopy(COMPOSE["running"][name])
    part, *keys = path.split(".")
    node = running[part]
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = HAND_MADE_CONTAINER[path]
    found = compose_differences(name, running)
    assert found, path
    assert all(f.startswith(path.split(".by-hand")[0]) for f in found), found


def test_the_engine_merges_the_images_configuration_into_the_declared_one() -> None:
    merged = drift_compose.merge_image_config(
        {"Env": ["A=1"], "Labels": {"x": "declared"}, "Cmd": None, "Entrypoint": None, "User": ""},
        {"Env": ["A=image", "PATH=/bin"], "Labels": {"x": "image", "y": "image"}, "Cmd": ["run"],
         "Entrypoint": ["/init"], "User": "10001", "WorkingDir": "/srv", "ExposedPorts": {"8001/tcp": {}}},
    )  # fmt: skip
    assert merged["Env"] == ["A=1", "PATH=/bin"]
    assert merged["Labels"] == {"x": "declared", "y": "image"}
    assert (merged["Cmd"], merged["Entrypoint"], merged["User"]) == (["run"], ["/init"], "10001")
    assert (merged["WorkingDir"], merged["ExposedPorts"]) == ("/srv", {"8001/tcp": {}})


# --- the comparison itself -----------------------------------------------------------------------


def test_empty_values_of_any_shape_mean_not_set_and_maps_are_compared_key_by_key() -> None:
    assert compare({"A": None, "B": [], "C": {}}, {"A": "", "B": None, "D": 0}) == []
    found = compare({"A": {"B": 1, "C": 2}}, {"A": {"B": 1, "C": 3, "D": 4}})
    assert [(d.path, d.declared, d.running) for d in found] == [("A.C", 2, 3), ("A.D", None, 4)]


def test_a_section_set_on_one_side_only_is_reported_field_by_field() -> None:
    """A healthcheck removed by hand (null in the engine's document), or one added where none is declared."""
    check = {"Test": ["CMD", "true"], "Interval": 5_000_000_000}
    removed = compare({"Healthcheck": check}, {"Healthcheck": None})
    assert [(d.path, d.declared, d.running) for d in removed] == [
        ("Healthcheck.Interval", 5_000_000_000, None),
        ("Healthcheck.Test", ["CMD", "true"], None),
    ]
    added = compare({"Healthcheck": ""}, {"Healthcheck": check})
    assert [(d.path, d.declared, d.running) for d in added] == [(d.path, d.running, d.declared) for d in removed]


def test_a_rule_pattern_is_literal_but_for_its_stars() -> None:
    assert matches("Config.Labels[com.docker.compose.version]", "Config.Labels[com.docker.compose.version]")
    assert not matches("Config.Labels[com.docker.compose.version]", "Config.Labels[c]")
    assert matches("NetworkSettings.Networks*.Aliases", "NetworkSettings.Networks[lms-dev_backend].Aliases")
    rules = (Rule("A.B", "default", "engine default", value=5),)
    assert normalise({"A": {}}, "", rules, {}, "declared") == {"A": {"B": 5}}
    assert normalise({"A": {}}, "", rules, {}, "running") == {"A": {}}


def test_every_rule_is_documented_with_its_reason() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "drift.md").read_text()
    for rule in (*drift_swarm.RULES, *drift_compose.RULES):
        assert rule.reason
        assert f"`{rule.pattern}`" in docs, f"docs/drift.md does not list {rule.pattern}"


@pytest.mark.parametrize(
    ("path", "name", "category"),
    [
        ("TaskTemplate.Placement.Constraints", "placement constraints", "placement"),
        ("TaskTemplate.ContainerSpec.Env.LMS_LOG_LEVEL", "env LMS_LOG_LEVEL", "environment"),
        ("Labels[com.docker.stack.image]", "service label com.docker.stack.image", "image"),
        ("TaskTemplate.ContainerSpec.Labels[org.lmsops.team]", "container label org.lmsops.team", "labels"),
        ("Mode.Replicated.Replicas", "desired replicas", "replicas"),
        ("HostConfig.CpuShares", "host config cpu shares", "resources"),
        ("TaskTemplate.ContainerSpec.Healthcheck.Interval", "healthcheck interval", "health"),
    ],
)
def test_fields_have_readable_names_and_categories(path: str, name: str, category: str) -> None:
    assert (field_name(path), category_of(path)) == (name, category)
    assert category in CATEGORIES
