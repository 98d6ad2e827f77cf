"""lmsops.deploy.plan: what a deploy would change, read from drift's field by field comparison of this
commit's rendering with what runs. The differences come from the engine JSON recorded from a real
staging deploy (tests/unit/data/drift), changed the way a new commit changes it, through the same
comparison drift uses; the plan is what people read from them."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from lmsops.core.errors import CommandError
from lmsops.deploy import plan as plan_module
from lmsops.deploy.plan import Change, Declared, Plan, ServicePlan, declared, plan_from, short_image
from lmsops.deploy.plan_output import as_json, text
from lmsops.drift import swarm as drift_swarm
from lmsops.drift.compare import Difference, Recorder
from tests.unit.drift_fakes import declared_model, environment, recorded

WHERE = "Swarm stack lms-staging on the local engine"
NEW_DIGEST = "127.0.0.1:5000/lmsops/catalog@sha256:" + "1a2b3c4d5e6f" + "0" * 52


def staging() -> dict[str, Any]:
    return recorded("swarm.json")  # type: ignore[no-any-return]


def wanted(
    tmp_path: Path, services: dict[str, Any] | None = None, unavailable: dict[str, str] | None = None
) -> Declared:
    model = declared_model(environment("staging", "swarm", "lms-staging"), {"services": services or {}}, tmp_path, [])
    return Declared(model, dict(unavailable or {}))


def planned(tmp_path: Path, change: Any, *, service: str = "catalog", **kwargs: Any) -> Plan:
    """The plan when the commit declares the recorded spec of `service` changed by `change` (what runs:
    the recorded spec as it is)."""
    swarm = staging()
    declared = copy.deepcopy(swarm["rendered"][service])
    change(declared)
    rec = Recorder("staging", service)
    rec.fields(drift_swarm.spec_differences(declared, swarm["running"][service], {"networks": swarm["networks"]}))
    return plan_from("staging", WHERE, rec.found, wanted(tmp_path, **kwargs))


def container(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["TaskTemplate"]["ContainerSpec"]  # type: ignore[no-any-return]


def test_the_recorded_deploy_against_itself_is_nothing_to_change(tmp_path: Path) -> None:
    plan = planned(tmp_path, lambda spec: None)
    assert plan == Plan("staging", WHERE, []) and plan.empty
    assert text(plan) == f"plan: staging ({WHERE}): nothing to change (what runs is what this commit would deploy)"
    assert as_json(plan) == {"env": "staging", "target": WHERE, "first_deploy": False, "changes": False, "services": []}


def test_a_new_image_is_shown_old_to_new_by_short_digest(tmp_path: Path) -> None:
    def new_image(spec: dict[str, Any]) -> None:
        container(spec)["Image"] = NEW_DIGEST
        spec["Labels"]["com.docker.stack.image"] = NEW_DIGEST  # mirrors the image: not a change of its own

    plan = planned(tmp_path, new_image)
    assert plan.services == [
        ServicePlan("catalog", "change", [Change("image", "image", "catalog@sha256:8f30f30fd238",
                                                 "catalog@sha256:1a2b3c4d5e6f")]),
    ]  # fmt: skip
    assert text(plan).splitlines() == [
        f"plan: staging ({WHERE}): 1 to change",
        "  ~ catalog",
        "      image  catalog@sha256:8f30f30fd238 -> catalog@sha256:1a2b3c4d5e6f",
    ]


def test_an_image_not_yet_published_is_new_by_its_tag(tmp_path: Path) -> None:
    tag = "127.0.0.1:5000/lmsops/catalog:0.1.0-7c5424cff98a"
    plan = planned(
        tmp_path, lambda spec: container(spec).update(Image=tag),
        services={"catalog": {"image": tag}}, unavailable={"catalog": "new image, not yet published"},
    )  # fmt: skip
    [service] = plan.services
    assert service.changes == [
        Change(
            "image", "image", "catalog@sha256:8f30f30fd238", "catalog:0.1.0-7c5424cff98a (new image, not yet published)"
        )
    ]


def test_variables_are_named_added_removed_changed_never_with_their_values(tmp_path: Path) -> None:
    def variables(spec: dict[str, Any]) -> None:
        env = container(spec)["Env"]
        env.remove("LMS_PORT=8001")
        env[env.index("LMS_LOG_LEVEL=info")] = "LMS_LOG_LEVEL=debug-secretish"
        env.append("LMS_FEATURE_GRADES=on")

    plan = planned(tmp_path, variables)
    [service] = plan.services
    assert service.changes == [
        Change("environment", "added: LMS_FEATURE_GRADES"),
        Change("environment", "removed: LMS_PORT"),
        Change("environment", "changed: LMS_LOG_LEVEL"),
    ]
    printed = text(plan)
    assert "debug-secretish" not in printed and "info" not in printed.split("\n", 1)[1] and "8001" not in printed


def test_replicas_and_resources_in_human_units(tmp_path: Path) -> None:
    def bigger(spec: dict[str, Any]) -> None:
        spec["Mode"]["Replicated"]["Replicas"] = 3
        spec["TaskTemplate"]["Resources"]["Limits"].update(MemoryBytes=314572800, NanoCPUs=1_000_000_000)

    [service] = planned(tmp_path, bigger).services
    assert service.changes == [
        Change("replicas", "replicas", "2", "3"),
        Change("resources", "memory limit", "256 MiB", "300 MiB"),
        Change("resources", "cpu limit", "0.5 CPUs", "1 CPU"),
    ]


def test_a_rotated_secret_is_a_new_version_by_its_hash(tmp_path: Path) -> None:
    def rotated(spec: dict[str, Any]) -> None:
        container(spec)["Secrets"][0]["SecretName"] = "lms-staging_catalog-db-password_9f8e7d6c5b"

    plan = planned(tmp_path, rotated)
    assert plan.services[0].changes == [Change("secrets", "catalog-db-password", "407e974a3b", "9f8e7d6c5b")]
    assert text(plan).splitlines()[-1] == "      secrets  catalog-db-password: version 407e974a3b -> 9f8e7d6c5b"


def test_other_fields_are_named_with_both_values(tmp_path: Path) -> None:
    def slower(spec: dict[str, Any]) -> None:
        spec["UpdateConfig"]["Delay"] = 5_000_000_000

    assert planned(tmp_path, slower).services[0].changes == [Change("other", "update config delay", "2 s", "5 s")]


def test_services_added_and_removed(tmp_path: Path) -> None:
    found = [
        Difference("staging", "grades", "presence", "service", "running", "not in the stack"),
        Difference("staging", "legacy", "presence", "service", "(not declared)", "running in the stack"),
    ]
    tag = "127.0.0.1:5000/lmsops/grades:0.1.0-abcdef123456"
    plan = plan_from(
        "staging",
        WHERE,
        found,
        wanted(tmp_path, {"grades": {"image": tag}}, {"grades": "new image, not yet published"}),
    )
    assert text(plan).splitlines() == [
        f"plan: staging ({WHERE}): 1 to add, 1 to remove",
        "  + grades (new service)",
        "      image  (none) -> grades:0.1.0-abcdef123456 (new image, not yet published)",
        "  - legacy (not declared any more: removed)",
    ]
    assert [s["action"] for s in as_json(plan)["services"]] == ["add", "remove"]


def test_a_compose_service_without_any_container_yet_is_added(tmp_path: Path) -> None:
    found = [Difference("dev", "grades", "presence", "container lms-dev-grades-1", "running", "not created")]
    assert plan_from("dev", "Compose project lms-dev", found, wanted(tmp_path)).services == [
        ServicePlan("grades", "add")
    ]


def test_state_is_not_a_change_a_deploy_plans(tmp_path: Path) -> None:
    found = [
        Difference("staging", "catalog", "state", "running tasks", "2", "1"),
        Difference("staging", "catalog", "state", "unhealthy tasks", "[]", '["abc"]'),
    ]
    assert plan_from("staging", WHERE, found, wanted(tmp_path)).empty


def test_short_image_names() -> None:
    assert short_image(NEW_DIGEST) == "catalog@sha256:1a2b3c4d5e6f"
    assert short_image("lmsops/catalog:0.1.0-7c5424cff98a") == "catalog:0.1.0-7c5424cff98a"
    assert short_image("sha256:" + "ab" * 32) == "sha256:abababababab"
    assert short_image("(not on this engine)") == "(not on this engine)"


def _context_for_registry(monkeypatch: pytest.MonkeyPatch, registry: str, answering: bool, tmp_path: Path) -> Any:
    def unreachable(*_args: Any) -> dict[str, str]:
        raise CommandError(["docker", "manifest", "inspect"], 1, "connection refused", f"is {registry} reachable?")

    images = [SimpleNamespace(name=name, reference=f"lmsops/{name}:0.1.0-abc") for name in ("catalog", "gateway")]
    monkeypatch.setattr(
        plan_module, "load_environment", lambda *_a: SimpleNamespace(target=SimpleNamespace(registry=registry))
    )
    monkeypatch.setattr(plan_module, "model_services", lambda *_a: [])
    monkeypatch.setattr(plan_module, "registry_references", unreachable)
    monkeypatch.setattr(plan_module, "deployed_images", lambda *_a: {"catalog", "gateway"})
    monkeypatch.setattr(plan_module, "answers", lambda _address: answering)
    monkeypatch.setattr(plan_module, "resolve", lambda _repo, _docker, _env, pinned, plan: pinned)
    return SimpleNamespace(repo=tmp_path, docker=None, plan=lambda: images)


def test_lmsopss_own_registry_not_started_yet_plans_every_image_as_new(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A first deploy of staging: the loopback registry the deploy starts does not run yet."""
    found = declared(_context_for_registry(monkeypatch, "127.0.0.1:5000", False, tmp_path), "staging")
    assert cast(dict[str, str], found.model) == {
        name: f"127.0.0.1:5000/lmsops/{name}:0.1.0-abc" for name in ("catalog", "gateway")
    }
    assert found.unavailable == dict.fromkeys(("catalog", "gateway"), "new image, not yet published")


def test_a_registry_that_runs_but_fails_or_a_remote_one_stays_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for registry, answering in (("127.0.0.1:5000", True), ("ghcr.io/acme", False)):
        with pytest.raises(CommandError):
            declared(_context_for_registry(monkeypatch, registry, answering, tmp_path), "staging")


def test_composes_config_hash_is_left_out_when_it_restates_other_changes(tmp_path: Path) -> None:
    """Compose's hash of the whole service changes with any change: shown alone, never beside the change."""
    label = "Config.Labels[com.docker.compose.config-hash]"
    hash_changed = Difference("dev", "postgres", "labels", "container label com.docker.compose.config-hash",
                              "b74326c2f943", "3f8fafff027a", label)  # fmt: skip
    mounts = Difference("dev", "postgres", "mounts", "mounts", "[a, b]", "[a]", "HostConfig.Mounts")
    with_mounts = plan_from("dev", WHERE, [hash_changed, mounts], wanted(tmp_path, {"postgres": {}}))
    assert [(c.what, c.old, c.new) for c in with_mounts.services[0].changes] == [("mounts", "[a]", "[a, b]")]
    alone = plan_from("dev", WHERE, [hash_changed], wanted(tmp_path, {"postgres": {}}))
    assert [c.what for c in alone.services[0].changes] == ["container label com.docker.compose.config-hash"]
