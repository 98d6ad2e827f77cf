"""lmsops.deploy.apply: the guard of a confirmed environment (--yes and a clean git tree), the order of a
deploy's steps around the deploy lock, and rollback (the previous release of every service, redeployed
together and recorded), with the target scripted and the model resolution stubbed. How often a deploy
plans and builds is tests/unit/test_deploy_context.py's."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lmsops.bench.throwaway import throwaway_secrets
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.deploy import apply as apply_module
from lmsops.deploy.apply import DeployResult, guard
from lmsops.deploy.plan import Change, Declared, Plan, ServicePlan
from lmsops.environments.config import Environment, load_environment
from lmsops.environments.model import Model, model_services, work_dir
from lmsops.releases.history import Release
from tests.unit.adapter_fakes import ScriptedTarget, StubContext, reporter
from tests.unit.fakes import FakeDocker


def environment(project: Repo, name: str) -> Environment:
    return load_environment(project, name, model_services(project))


def git_commit_all(root: Any) -> None:
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "--all"], ["commit", "-q", "-m", "all"]):
        subprocess.run(["git", "-C", str(root), *identity, *args], check=True, capture_output=True)


# -- guard -----------------------------------------------------------------------------------------


def test_an_environment_without_confirm_needs_neither_yes_nor_a_clean_tree(project: Repo) -> None:
    guard(project, environment(project, "staging"), yes=False)  # project is not even a git repository


def test_a_confirmed_environment_needs_yes(project: Repo) -> None:
    with pytest.raises(
        ConfigError, match=r"^deploying production needs an explicit confirmation: nox -s deploy -- production --yes$"
    ):
        guard(project, environment(project, "production"), yes=False)


def test_a_confirmed_environment_deploys_from_a_clean_tree_only_naming_what_is_dirty(project: Repo) -> None:
    production = environment(project, "production")
    git_commit_all(project.root)
    guard(project, production, yes=True)
    for n in range(6):
        (project.root / f"dirty{n}.txt").write_text("x")
    with pytest.raises(ConfigError) as refused:
        guard(project, production, yes=True)
    assert str(refused.value) == (
        "refusing to deploy production from a dirty git tree "
        "(dirty0.txt, dirty1.txt, dirty2.txt, dirty3.txt, dirty4.txt ...); commit or stash first"
    )


def test_a_confirmed_environment_outside_git_is_refused(project: Repo) -> None:
    with pytest.raises(ConfigError, match=r"dirty git tree \(\(not a git repository\)\)"):
        guard(project, environment(project, "production"), yes=True)


# -- deploy and rollback around a scripted target --------------------------------------------------


@dataclass
class Stage:
    """The deploy module with its target, model resolution and gateway check scripted."""

    project: Repo
    target: ScriptedTarget | None = None
    steps: list[str] = field(default_factory=list)

    def model(self, name: str, text: str = "services:\n  catalog:\n    image: lmsops/catalog:new\n") -> Model:
        import yaml

        return Model(
            environment(self.project, name), [], self.project.root / "compose.env", [], yaml.safe_load(text), text
        )

    def scripted(self, name: str, **answers: Any) -> ScriptedTarget:
        self.target = ScriptedTarget(environment(self.project, name), FakeDocker(), **answers)
        return self.target


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch, project: Repo) -> Iterator[Stage]:
    staged = Stage(project)

    def resolve(repo: Repo, docker: Any, env_name: str, pinned: Any = None, plan: Any = None) -> Model:
        staged.steps.append(f"resolve {env_name} pinned={dict(pinned or {})}")
        model = staged.model(env_name)
        work_dir(repo, model.env).mkdir(parents=True, exist_ok=True)  # where resolve renders its files
        return model

    def target_for(repo: Repo, docker: Any, env: Environment) -> ScriptedTarget:
        assert staged.target is not None and staged.target.env.name == env.name
        return staged.target

    def publish(ctx: Any, address: str, only: Any = None) -> dict[str, str]:
        staged.steps.append(f"publish {address}")
        return {}

    def check_entry_point(model: Model, report: Any, *, timeout: int, logs: Any) -> None:
        staged.steps.append(f"gateway check {model.env.name} within {timeout} s")

    monkeypatch.setattr(apply_module, "resolve", resolve)
    monkeypatch.setattr(apply_module, "target_for", target_for)
    monkeypatch.setattr(apply_module, "publish", publish)

    def plan_with_model(ctx: Any, env_name: str, pinned: Any = None) -> tuple[Plan, Declared]:
        staged.steps.append(f"plan {env_name} pinned={dict(pinned or {})}")
        plan = Plan(
            env_name, "scripted", [ServicePlan("catalog", "change", [Change("replicas", "replicas", "1", "2")])]
        )
        model = staged.model(env_name)
        work_dir(project, model.env).mkdir(parents=True, exist_ok=True)  # where the plan's resolve renders
        return plan, Declared(model, {})

    def plan_of(docker: Any, wanted: Declared) -> Plan:
        staged.steps.append(f"plan of {wanted.model.document}")
        return Plan(wanted.model.env.name, "scripted", [])

    monkeypatch.setattr(apply_module, "check_entry_point", check_entry_point)
    monkeypatch.setattr(apply_module, "plan_with_model", plan_with_model)
    monkeypatch.setattr(apply_module, "plan_of", plan_of)
    with throwaway_secrets(project):
        yield staged


def test_a_registry_deploy_publishes_resolves_applies_checks_and_accepts_holding_the_lock(stage: Stage) -> None:
    target = stage.scripted("staging", unchanged=["catalog"])
    report, out = reporter()
    ctx = StubContext(stage.project, FakeDocker(), report)
    pinned = {"catalog": "127.0.0.1:5000/lmsops/catalog@sha256:" + "c" * 64}
    result = apply_module.deploy(ctx, "staging", init_swarm=True, pinned=pinned, note="promoted from dev")
    assert result == DeployResult("staging", [], ["catalog"])
    assert target.calls == ["prepare --init-swarm", "lock deploy (promoted from dev)", "apply", "accept", "unlock"]
    assert stage.steps == [
        f"plan staging pinned={pinned}",
        "publish 127.0.0.1:5000",
        f"resolve staging pinned={pinned}",
        "gateway check staging within 300 s",
    ]
    assert ctx.builds == 0, "a registry environment builds through publish: only what the registry lacks"
    [(model, path, written)] = target.applied
    assert (path, written) == (model.path(stage.project), model.text), "apply gets the model written where it says"
    assert target.accepted == ["promoted from dev"]
    assert "deploy: staging is already as declared: nothing changed, no task restarted" in out.getvalue()
    assert "plan: staging (scripted): 1 to change\n  ~ catalog\n      replicas  1 -> 2\n" in out.getvalue()


def test_a_protected_environment_without_yes_gets_its_plan_and_nothing_else(stage: Stage) -> None:
    target = stage.scripted("production")
    git_commit_all(stage.project.root)
    report, out = reporter()
    with pytest.raises(ConfigError) as stopped:
        apply_module.deploy(StubContext(stage.project, FakeDocker(), report), "production")
    assert str(stopped.value) == (
        "production is protected (confirm: true): nothing was changed; to apply this plan: "
        "nox -s deploy -- production --yes"
    )
    assert stopped.value.exit_code == 2
    assert out.getvalue().startswith("plan: production (scripted): 1 to change\n")
    assert target.calls == [] and stage.steps == ["plan production pinned={}"], "no lock, no build, no apply"


def test_a_protected_environment_with_yes_shows_the_plan_under_the_lock_then_deploys(stage: Stage) -> None:
    target = stage.scripted("production", changed=["catalog"])
    git_commit_all(stage.project.root)
    apply_module.deploy(StubContext(stage.project, FakeDocker(), reporter()[0]), "production", yes=True)
    assert target.calls == ["prepare", "lock deploy", "apply", "accept", "unlock"]
    assert stage.steps[:2] == ["plan production pinned={}", "publish 127.0.0.1:5000"], "the plan before any push"


def plan_fails(monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    def unreadable(ctx: Any, env_name: str, pinned: Any = None) -> tuple[Plan, Declared]:
        raise ConfigError(message)

    monkeypatch.setattr(apply_module, "plan_with_model", unreadable)


def test_a_plan_that_cannot_be_computed_is_said_and_the_deploy_goes_on(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_fails(monkeypatch, "cannot render the Swarm stack lms-staging: something new\nsecond line")
    target = stage.scripted("staging", changed=["catalog"])
    report, out = reporter()
    apply_module.deploy(StubContext(stage.project, FakeDocker(), report), "staging")
    assert "plan: staging: not computed (cannot render the Swarm stack lms-staging: something new); going on" in (
        out.getvalue()
    )
    assert target.calls[-3:] == ["apply", "accept", "unlock"]


def test_a_deploy_that_changed_services_names_them(stage: Stage) -> None:
    target = stage.scripted("dev", changed=["catalog", "gateway"])
    report, out = reporter()
    apply_module.deploy(StubContext(stage.project, FakeDocker(), report), "dev")
    assert target.calls == ["prepare", "lock deploy", "apply", "accept", "unlock"]
    assert not any(step.startswith("publish") for step in stage.steps), "dev has no registry"
    assert "deploy: dev converged in" in out.getvalue() and "updated catalog, gateway" in out.getvalue()


def test_a_deploy_without_a_registry_applies_the_model_its_plan_resolved_after_building(stage: Stage) -> None:
    target = stage.scripted("dev", changed=["catalog"])
    ctx = StubContext(stage.project, FakeDocker(), reporter()[0])
    apply_module.deploy(ctx, "dev")
    assert stage.steps == ["plan dev pinned={}", "gateway check dev within 300 s"], "resolved once, by the plan"
    assert ctx.builds == 1
    [(model, _, _)] = target.applied
    assert model.env.name == "dev" and model.document["services"]["catalog"]["image"] == "lmsops/catalog:new"


def test_a_deploy_without_a_registry_whose_plan_failed_resolves_its_model_itself(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_fails(monkeypatch, "cannot read the containers of lms-dev")
    target = stage.scripted("dev", changed=["catalog"])
    apply_module.deploy(StubContext(stage.project, FakeDocker(), reporter()[0]), "dev")
    assert stage.steps == ["resolve dev pinned={}", "gateway check dev within 300 s"]
    assert len(target.applied) == 1


def release(seq: int, image: str) -> Release:
    model = f"services:\n  catalog:\n    image: lmsops/catalog:{image}\n"
    return Release(
        seq, "staging", "lms-staging", "c0ffee", "cfg", {"catalog": image}, "me", f"2026-11-2{seq}", "", model
    )


def test_rollback_redeploys_the_previous_release_and_records_it_as_a_new_one(stage: Stage) -> None:
    recorded = release(4, "v3")
    target = stage.scripted(
        "staging", releases=[release(1, "v1"), release(2, "v2"), release(3, "v3")], changed=["catalog"],
        accepted_release=recorded,
    )  # fmt: skip
    report, out = reporter()
    assert apply_module.rollback(StubContext(stage.project, FakeDocker(), report), "staging") is recorded
    assert target.calls == ["prepare", "lock rollback", "history", "apply", "accept", "unlock"]
    [(model, path, written)] = target.applied
    assert model.document == {"services": {"catalog": {"image": "lmsops/catalog:v2"}}}
    assert (path, written) == (work_dir(stage.project, model.env) / "rollback.yaml", release(2, "v2").model)
    assert target.accepted == ["rollback to #2"]
    assert stage.steps == [
        "resolve staging pinned={}",
        "plan of {'services': {'catalog': {'image': 'lmsops/catalog:v2'}}}",
        "gateway check staging within 300 s",
    ], "the plan of the release rolled back to, before it is applied"
    said = out.getvalue()
    assert "==> staging: rolling back from release #3 to #2 (2026-11-22)" in said
    assert "rollback: staging runs release #2 again as #4 in" in said and "(updated: catalog)" in said


def test_rollback_with_a_single_release_is_refused_before_any_change(stage: Stage) -> None:
    target = stage.scripted("staging", releases=[release(1, "v1")])
    with pytest.raises(ConfigError, match="no previous release to roll back to"):
        apply_module.rollback(StubContext(stage.project, FakeDocker(), reporter()[0]), "staging")
    assert target.calls == ["prepare", "lock rollback", "history", "unlock"]


def test_rollback_of_a_confirmed_environment_needs_yes_before_the_target_is_touched(stage: Stage) -> None:
    target = stage.scripted("production", releases=[release(1, "v1"), release(2, "v2")])
    with pytest.raises(ConfigError, match="needs an explicit confirmation"):
        apply_module.rollback(StubContext(stage.project, FakeDocker(), reporter()[0]), "production")
    assert target.calls == []


def test_rollback_on_a_target_that_records_no_release_is_an_error(stage: Stage) -> None:
    stage.scripted("staging", releases=[release(1, "v1"), release(2, "v2")], accepted_release=None)
    with pytest.raises(ConfigError, match=r"^staging: its target records no releases; nothing to roll back to$"):
        apply_module.rollback(StubContext(stage.project, FakeDocker(), reporter()[0]), "staging")


def test_throwaway_secrets_kept_give_the_next_block_the_same_values(
    project: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LMSOPS_STAGING_POSTGRES_PASSWORD", raising=False)
    monkeypatch.setenv("LMSOPS_STAGING_CATALOG_DB_PASSWORD", "set-by-the-operator")
    kept: dict[str, str] = {}
    with throwaway_secrets(project, kept):
        first = os.environ["LMSOPS_STAGING_POSTGRES_PASSWORD"]
        assert os.environ["LMSOPS_STAGING_CATALOG_DB_PASSWORD"] == "set-by-the-operator"  # noqa: S105 - a test value
    assert "LMSOPS_STAGING_POSTGRES_PASSWORD" not in os.environ
    with throwaway_secrets(project, kept):
        assert os.environ["LMSOPS_STAGING_POSTGRES_PASSWORD"] == first
    with throwaway_secrets(project):
        assert os.environ["LMSOPS_STAGING_POSTGRES_PASSWORD"] != first
