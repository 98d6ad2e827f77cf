"""`lmsops down`: a protected environment (target.confirm: true, production) is removed only with
--yes, refused in one line before any docker call; what goes with the containers (volumes, secrets,
release history) is listed before anything is removed."""

from __future__ import annotations

import io

import pytest
import yaml

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.releases.history import RELEASE_LABEL
from lmsops.targets import status
from lmsops.targets.lock import LOCK_LABEL
from tests.unit.adapter_fakes import scripted_engine
from tests.unit.cli_fakes import lmsops
from tests.unit.target_fakes import COMPOSE, STACK, ComposeEngine, FakeClock, SwarmEngine

REMOVALS = {"stack_rm", "volume_rm", "config_rm", "secret_rm"}


class Said(Reporter):
    """A Reporter that also notes, for each line, what the engine had been asked to remove by then."""

    def __init__(self, engine: SwarmEngine) -> None:
        super().__init__(io.StringIO())
        self.engine = engine
        self.lines: list[tuple[str, list[str]]] = []

    def say(self, text: str) -> None:
        self.lines.append((text, [call[0] for call in self.engine.calls if call[0] in REMOVALS]))


def protected(repo: Repo, env_name: str, stack: str) -> Repo:
    """env/<env_name>.yaml as production declares it (confirm: true), on the recorded stack."""
    path = repo.environments / f"{env_name}.yaml"
    data = yaml.safe_load(path.read_text())
    data["target"].update({"confirm": True, "name": stack})
    path.write_text(yaml.safe_dump(data))
    return repo


def engine_with_history() -> SwarmEngine:
    engine = SwarmEngine(FakeClock(), [])
    engine.secrets = [f"{STACK}_postgres-password_0123456789"]
    engine.config_create(f"{STACK}_release_0001", {RELEASE_LABEL: STACK}, b"{}")
    engine.config_create("other_release_0001", {RELEASE_LABEL: "other"}, b"{}")
    return engine


# -- refused: one line, nothing run ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "command"),
    [(["--volumes"], "nox -s down -- production --volumes --yes"), ([], "nox -s down -- production --yes")],
)
def test_down_of_production_without_yes_is_refused_in_one_line_before_any_docker_call(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, flags: list[str], command: str
) -> None:
    engine = scripted_engine(monkeypatch)  # every program lmsops would run, recorded
    outcome = lmsops(capsys, "down", "production", *flags)
    assert outcome.code == 2
    assert outcome.error_line() == f"removing production needs an explicit confirmation: {command}"
    assert engine.calls == [], "not even `docker version`: nothing is asked before the refusal"
    assert outcome.out == ""


def test_an_environment_without_confirm_needs_no_yes(project: Repo) -> None:
    status.require_confirmation(status.environment(project, "staging"), False, "removing", "nox -s down -- staging")


def test_the_confirmation_names_what_is_being_done_and_the_command_to_type(project: Repo) -> None:
    production = status.environment(project, "production")
    with pytest.raises(ConfigError, match=r"^deploying production needs an explicit confirmation: nox -s d --yes$"):
        status.require_confirmation(production, False, "deploying", "nox -s d")
    status.require_confirmation(production, True, "deploying", "nox -s d")


# -- confirmed: listed first, then removed -----------------------------------------------------------
def test_down_with_volumes_and_yes_lists_volumes_secrets_and_history_before_removing_anything(
    project: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    repo = protected(project, "staging", STACK)
    engine = engine_with_history()
    report = Said(engine)
    status.down(repo, engine, "staging", True, report, yes=True)
    assert report.lines == [
        (f"==> staging: removing Swarm stack {STACK} on the local engine, and with it:", []),
        (f"    secret {STACK}_postgres-password_0123456789", []),
        (f"    volume {STACK}_data", []),
        (f"    config {STACK}_release_0001 (release history)", []),
        (f"    {STACK}: removed with its volumes and release history", ["stack_rm", "volume_rm", "config_rm"]),
    ]
    assert list(engine.configs) == ["other_release_0001"], "another stack's history and the lock are left"


def test_down_without_volumes_lists_only_the_secrets_docker_stack_rm_removes(
    project: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    repo = protected(project, "staging", STACK)
    engine = engine_with_history()
    report = Said(engine)
    status.down(repo, engine, "staging", False, report, yes=True)
    assert [line for line, _removed in report.lines] == [
        f"==> staging: removing Swarm stack {STACK} on the local engine, and with it:",
        f"    secret {STACK}_postgres-password_0123456789",
        f"    {STACK}: removed (volumes and history kept; --volumes removes them)",
    ]


def test_a_refused_down_takes_no_lock_and_reads_nothing(project: Repo) -> None:
    repo = protected(project, "staging", STACK)
    engine = engine_with_history()
    with pytest.raises(ConfigError, match=r"^removing staging needs an explicit confirmation"):
        status.down(repo, engine, "staging", True, Said(engine))
    assert engine.calls == []
    assert not [config for config in engine.configs.values() if LOCK_LABEL in config["Spec"]["Labels"]]


def test_a_compose_down_with_volumes_lists_the_projects_volumes_first(
    project: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    name = str(COMPOSE["project"])
    protected(project, "dev", name)
    engine = ComposeEngine(project=name)
    engine.volumes = {f"{name}_pgdata": {"com.docker.compose.project": name}, "elsewhere": {}}
    out = io.StringIO()
    status.down(project, engine, "dev", True, Reporter(out), yes=True)
    assert out.getvalue().splitlines() == [
        f"==> dev: removing Compose project {name} on the local engine, and with it:",
        f"    volume {name}_pgdata",
        f"    {name}: removed with its volumes",
    ]
    down = ("down", "--remove-orphans", "--volumes")
    assert engine.volumes_at[down] == sorted(["elsewhere", f"{name}_deploy_lock", f"{name}_pgdata"])


def test_a_compose_down_without_volumes_lists_nothing(project: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    name = str(COMPOSE["project"])
    protected(project, "dev", name)
    engine = ComposeEngine(project=name)
    engine.volumes = {f"{name}_pgdata": {"com.docker.compose.project": name}}
    out = io.StringIO()
    status.down(project, engine, "dev", False, Reporter(out), yes=True)
    assert out.getvalue() == f"    {name}: removed (volumes kept; --volumes removes them)\n"
