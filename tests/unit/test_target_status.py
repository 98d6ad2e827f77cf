"""What runs on an environment's target (lmsops.targets.status) and the choice of its target
(lmsops.targets.factory): the kind env/<name>.yaml names, aimed at its engine, its files in its own
work folder; status, down, drift and compare asked of that target after the engine answered. The
engines answer from recorded JSON (tests/unit/data/convergence)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.drift.compare import Difference
from lmsops.environments.model import Model
from lmsops.targets import compose, status, swarm
from lmsops.targets.base import ServiceStatus, engine_description, revision_label
from lmsops.targets.compose import ComposeTarget
from lmsops.targets.factory import make_target, target_for, target_of
from lmsops.targets.lock import LOCK_LABEL, Holder, LockPolicy
from lmsops.targets.swarm import SwarmTarget
from tests.unit.target_fakes import (
    COMPOSE,
    IMAGE,
    STACK,
    ComposeEngine,
    FakeClock,
    SwarmEngine,
    environment,
    labelled,
    model,
    moment,
)

PROJECT = str(COMPOSE["project"])
REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def recorded(project: Repo) -> Repo:
    """The repository's environments, dev and staging renamed to the recorded project and stack."""
    for name, old, new in [("dev", "lms-dev", PROJECT), ("staging", "lms-staging", STACK)]:
        path = project.root / "env" / f"{name}.yaml"
        text = path.read_text()
        assert f"name: {old}\n" in text
        path.write_text(text.replace(f"name: {old}\n", f"name: {new}\n"))
    return project


def compose_engine(moment_name: str = "up") -> ComposeEngine:
    return ComposeEngine(str(COMPOSE[moment_name]["ps"]), project=PROJECT)


def swarm_engine(moment_name: str = "converged") -> SwarmEngine:
    return SwarmEngine(FakeClock(), [(0, moment(moment_name))])


class Drift:
    """Stands in for compare_compose / compare_swarm: records the engines it was given."""

    def __init__(self) -> None:
        self.asked: list[tuple[Docker, Docker | None]] = []
        self.found = [Difference("x", "web", "image", "image", "a", "b")]

    def compose(self, docker: Docker, model: Model, revisions: dict[str, str]) -> list[Difference]:
        self.asked.append((docker, None))
        return self.found

    def swarm(self, docker: Docker, model: Model, revisions: dict[str, str], *, images: Docker) -> list[Difference]:
        self.asked.append((docker, images))
        return self.found


@pytest.fixture
def drift(monkeypatch: pytest.MonkeyPatch) -> Drift:
    fake = Drift()
    monkeypatch.setattr(compose, "compare_compose", fake.compose)
    monkeypatch.setattr(swarm, "compare_swarm", fake.swarm)
    return fake


# -- factory ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("env_name", "kind"), [("dev", ComposeTarget), ("staging", SwarmTarget)])
def test_the_kind_of_target_is_the_one_the_environment_file_names(
    project: Repo, tmp_path: Path, env_name: str, kind: type[object]
) -> None:
    assert type(make_target(compose_engine(), environment(project, env_name), tmp_path)) is kind


@pytest.mark.parametrize(
    ("target", "aimed", "described"),
    [
        ({}, ("None", "None"), "Swarm stack lms-staging on the local engine"),
        ({"context": "lmsops-cluster"}, ("lmsops-cluster", "None"),
         "Swarm stack lms-staging on context lmsops-cluster"),
        ({"host": "ssh://deploy@manager"}, ("None", "ssh://deploy@manager"),
         "Swarm stack lms-staging on host ssh://deploy@manager"),
    ],
)  # fmt: skip
def test_the_target_talks_to_the_engine_its_environment_names(
    project: Repo, tmp_path: Path, target: dict[str, str], aimed: tuple[str, str], described: str
) -> None:
    engine = swarm_engine()
    made = make_target(
        engine, environment(project, "staging", context=target.get("context"), host=target.get("host")), tmp_path
    )
    assert engine.calls == [("for_target", *aimed)]
    assert made.description == described
    assert engine_description(made.env) == described.removeprefix("Swarm stack lms-staging on ")


def test_a_target_made_for_an_environment_keeps_its_last_good_model_in_the_environments_work_folder(
    project: Repo, tmp_path: Path
) -> None:
    env = environment(project, "dev")
    target = target_for(project, compose_engine(), env)
    path = tmp_path / "model.yaml"
    path.write_text("services: {}\n")
    target.accept(model(env, {"services": {}}, tmp_path), path, "", Reporter(io.StringIO()))
    assert (project.work / "env" / "lms-dev" / "last-good.yaml").read_text() == "services: {}\n"


def test_the_target_of_a_resolved_model_works_in_the_folder_of_its_rendered_files(
    project: Repo, tmp_path: Path
) -> None:
    rendered = tmp_path / "rendered"
    built = model(environment(project, "dev"), {"services": {}}, rendered)
    target = target_of(compose_engine(), built)
    path = tmp_path / "model.yaml"
    path.write_text("services: {}\n")
    target.accept(built, path, "", Reporter(io.StringIO()))
    assert (rendered / "last-good.yaml").is_file()


# -- status, down, drift, compare ------------------------------------------------------------------------
def test_the_status_of_a_compose_environment(recorded: Repo) -> None:
    engine = compose_engine("failed")
    engine.images[IMAGE] = labelled(REVISION)
    assert status.status(recorded, engine, "dev") == [
        ServiceStatus("web", 1, 1, "unhealthy", IMAGE, REVISION[:12]),
        ServiceStatus("worker", 1, 0, "exited", IMAGE, REVISION[:12]),
    ]
    assert engine.calls[:2] == [("for_target", "None", "None"), ("require_engine",)]


def test_the_status_of_a_swarm_environment(recorded: Repo) -> None:
    engine = swarm_engine("updated")
    assert status.status(recorded, engine, "staging") == [
        ServiceStatus("web", 2, 2, "healthy, last update completed", IMAGE, "?"),
    ]


def test_an_engine_that_does_not_answer_is_named_before_anything_is_read(recorded: Repo) -> None:
    engine = compose_engine()
    engine.reachable = False
    with pytest.raises(PrerequisiteError):
        status.status(recorded, engine, "dev")
    with pytest.raises(PrerequisiteError):
        status.down(recorded, engine, "dev", True, Reporter(io.StringIO()))
    assert [call for call in engine.calls if call[0] not in {"for_target", "require_engine"}] == []
    assert engine.volumes == {}, "no lock taken on an engine that does not answer"


def test_down_removes_the_environments_project_while_holding_its_deploy_lock(
    recorded: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    engine = compose_engine()
    out = io.StringIO()
    status.down(recorded, engine, "dev", True, Reporter(out))
    down = ("down", "--remove-orphans", "--volumes")
    assert engine.calls[-1] == down
    assert engine.volumes_at[down] == [f"{PROJECT}_deploy_lock"], "never under a deploy that is still applying"
    assert engine.volumes == {}, "the lock is released after"
    assert out.getvalue() == f"    {PROJECT}: removed with its volumes\n"


def test_down_of_an_environment_another_command_holds_is_refused_and_removes_nothing(
    recorded: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    engine = compose_engine()
    other = Holder("alice", "laptop", 4242, "deploy", "2026-11-27T09:00:00Z", "t-alice")
    engine.volumes[f"{PROJECT}_deploy_lock"] = {LOCK_LABEL: other.encode()}
    with pytest.raises(ConfigError, match=r"^dev is locked by deploy by alice on laptop \(pid 4242\)"):
        status.down(recorded, engine, "dev", True, Reporter(io.StringIO()), LockPolicy(wait=0))
    assert [call for call in engine.calls if call[0] == "down"] == []
    assert f"{PROJECT}_deploy_lock" in engine.volumes, "another's lock is left alone"


def test_drift_takes_the_images_from_the_engine_that_built_them_else_from_the_target(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    built = model(environment(project, "staging"), {"services": {}}, tmp_path)
    manager, builder = swarm_engine(), swarm_engine()
    manager.stack = builder.stack = "lms-staging"
    assert status.drift_of(manager, built, builder) == drift.found
    assert status.drift_of(manager, built) == drift.found
    assert drift.asked == [(manager, builder), (manager, manager)]


def test_compare_resolves_the_environment_and_reads_its_target_once_the_engine_answers(
    recorded: Repo, tmp_path: Path, drift: Drift, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = compose_engine()
    built = model(environment(recorded, "dev"), {"services": {}}, tmp_path)
    resolved: list[str] = []

    def resolve(repo: Repo, docker: Docker, env_name: str) -> Model:
        resolved.append(env_name)
        return built

    monkeypatch.setattr(status, "resolve", resolve)
    assert status.compare(recorded, engine, "dev") == drift.found
    assert resolved == ["dev"]
    assert drift.asked == [(engine, None)]
    assert ("require_engine",) in engine.calls
    engine.reachable = False
    with pytest.raises(PrerequisiteError):
        status.compare(recorded, engine, "dev")
    assert len(drift.asked) == 1


def test_the_environment_is_read_with_the_services_of_the_repository(project: Repo) -> None:
    env = status.environment(project, "staging")
    assert (env.name, env.target.kind, env.target.name) == ("staging", "swarm", "lms-staging")


# -- base -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("labels", "shown"),
    [(labelled(REVISION), "0123456789ab"), (labelled(""), "?"), ({}, "?"), (None, "?")],  # None: no such image
)
def test_the_revision_of_an_image_is_its_label_shortened_or_a_question_mark(
    labels: dict[str, str] | None, shown: str
) -> None:
    engine = compose_engine()
    if labels is not None:
        engine.images[IMAGE] = labels
    assert revision_label(engine, IMAGE) == shown
