"""ComposeTarget against `docker compose` output recorded from a real engine (tests/unit/data/convergence/
compose.json, by record_compose.py): which services a deploy changed, a failed `up --wait` named by its
unhealthy or exited containers and rolled back to the last good model, containers changed by hand
recreated, the status rows, and what `down` runs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.errors import ConfigError, DeployError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.drift.compare import Difference
from lmsops.environments.model import Model
from lmsops.targets import compose
from lmsops.targets.base import Applied, ServiceStatus
from lmsops.targets.compose import ComposeService, ComposeTarget, compose_ps
from lmsops.targets.last_lines import LAST_LINES
from tests.unit.target_fakes import COMPOSE, IMAGE, ComposeEngine, FakeClock, compose_rows, environment, labelled, model

PROJECT = str(COMPOSE["project"])
REVISION = "4e43b01f7a17ec90ebe24ebffa6cf2bdd83c5baa"


def ps(name: str) -> str:
    return str(COMPOSE[name]["ps"])


def container(name: str, service: str) -> str:
    return next(str(row["ID"]) for row in compose_rows(name) if row["Service"] == service)


class Drift:
    """Stands in for drift.compose.compare_compose: the differences a case declares, and who asked."""

    def __init__(self) -> None:
        self.found: list[Difference] = []
        self.asked: list[tuple[object, Model, dict[str, str]]] = []

    def __call__(self, docker: object, model: Model, revisions: dict[str, str]) -> list[Difference]:
        self.asked.append((docker, model, revisions))
        return self.found


@pytest.fixture
def drift(monkeypatch: pytest.MonkeyPatch) -> Drift:
    fake = Drift()
    monkeypatch.setattr(compose, "compare_compose", fake)
    return fake


class Deploy:
    """The dev environment renamed to the recorded project, on an engine that was at moment `before`."""

    def __init__(self, project: Repo, tmp_path: Path, before: str, ups: list[dict[str, Any]]) -> None:
        self.env = environment(project, "dev", name=PROJECT)
        self.engine = ComposeEngine(ps(before), ups, PROJECT)
        self.work = tmp_path / "work"
        self.target = ComposeTarget(self.env, self.engine, self.work)
        self.out = io.StringIO()
        self.report = Reporter(self.out)
        self.path = tmp_path / "model.yaml"
        self.model = model(self.env, {"services": {"web": {"image": IMAGE}, "worker": {"image": IMAGE}}}, tmp_path)
        self.path.write_text(self.model.text)

    def apply(self) -> Applied:
        return self.target.apply(self.model, self.path, self.report)

    def ups(self) -> list[list[str]]:
        """The files of every `up` run, in order."""
        return [files for args, files in zip(self.engine.calls, self.engine.files, strict=True) if args[0] == "up"]

    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


UP = ("up", "--detach", "--wait", "--wait-timeout", "300", "--remove-orphans", "--no-build", "--pull", "never")


# -- compose ps ----------------------------------------------------------------------------------
def test_the_containers_are_read_from_compose_ps_by_project_name_only() -> None:
    engine = ComposeEngine(ps("up"))
    assert compose_ps(engine, PROJECT) == [
        ComposeService("web", container("up", "web"), "running", "healthy", IMAGE),
        ComposeService("worker", container("up", "worker"), "running", "-", IMAGE),  # no health check
    ]
    assert engine.calls == [("ps", "--all", "--format", "json")]
    assert engine.files == [[]], "works when the files that made the project are gone"


def test_compose_before_2_21_printing_one_json_array_is_read_the_same() -> None:
    """Compose v2 before 2.21 prints `ps --format json` as one array; require_compose accepts any v2."""
    rows = [json.loads(line) for line in ps("up").splitlines() if line.startswith("{")]
    as_array = json.dumps(rows) + "\n"
    assert compose_ps(ComposeEngine(as_array), PROJECT) == compose_ps(ComposeEngine(ps("up")), PROJECT) != []


def test_compose_ps_rows_are_sorted_by_service_and_lines_that_are_not_json_are_skipped() -> None:
    lines = ps("failed").splitlines()
    noisy = "\n".join(['time="2026-11-27T09:02:11Z" level=warning msg="a warning"', *reversed(lines), ""])
    assert [row.service for row in compose_ps(ComposeEngine(noisy), PROJECT)] == ["web", "worker"]
    assert compose_ps(ComposeEngine(ps("empty")), PROJECT) == []


# -- deploy --------------------------------------------------------------------------------------
def test_a_first_deploy_runs_up_and_waits_and_reports_every_service_updated(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    deploy = Deploy(project, tmp_path, "empty", [COMPOSE["up"]])
    assert deploy.apply() == Applied(["web", "worker"], [])
    assert UP in deploy.engine.calls
    assert deploy.ups() == [[str(deploy.path)]]
    assert deploy.lines() == [
        f"    web: updated, running (healthy), {IMAGE}",
        f"    worker: updated, running (-), {IMAGE}",
    ]


def test_a_deploy_reports_as_changed_only_the_services_compose_recreated(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["updated"]])
    assert deploy.apply() == Applied(["web"], ["worker"])
    assert deploy.lines()[1] == f"    worker: unchanged, running (-), {IMAGE}"
    assert drift.asked == [(deploy.engine, deploy.model, {})], "every container checked against the declaration"


def test_a_failed_deploy_names_the_unhealthy_and_exited_containers_and_rolls_back_to_the_last_good_model(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["updated"], COMPOSE["failed"], COMPOSE["rollback"]])
    deploy.apply()
    deploy.target.accept(deploy.model, deploy.path, "", deploy.report)
    good = deploy.model.text
    deploy.path.write_text("the broken model")
    traceback = [f"  line {n}" for n in range(20)] + ["", "RuntimeError: no such table: courses"]
    deploy.engine.container_output = {"c3e72e6417f1": "\n".join(traceback), "88cea8154ba9": ""}
    with pytest.raises(DeployError) as failed:
        deploy.apply()
    assert str(failed.value) == (
        "dev: not healthy after deploy: web (running, unhealthy), worker (exited, -); "
        "their last log lines are above; rolled back to the last good release"
    )
    # Each failed container's last lines, read before the rollback replaced it, printed before it.
    assert deploy.engine.logs_read == [("88cea8154ba9", LAST_LINES), ("c3e72e6417f1", LAST_LINES)]
    lines = deploy.lines()
    shown = lines.index("    worker (exited, -), its last 11 log lines:")
    assert lines[shown + 1 : shown + 12] == [f"      | {line}" for line in traceback[-12:] if line]
    assert "    web (running, unhealthy): printed nothing" in lines
    assert shown < lines.index("    dev: rolling back to the last model that deployed cleanly")
    last_good = str(deploy.work / "last-good.yaml")
    assert deploy.ups() == [[str(deploy.path)], [str(deploy.path)], [last_good]]
    assert Path(last_good).read_text() == good
    assert "    dev: rolling back to the last model that deployed cleanly" in deploy.lines()


def test_a_rollback_that_fails_too_is_said(project: Repo, tmp_path: Path, drift: Drift) -> None:
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["failed"], COMPOSE["failed"]])
    deploy.target.accept(deploy.model, deploy.path, "", deploy.report)
    with pytest.raises(DeployError, match=r"\(exited, -\); their last log lines are above; rollback failed too$"):
        deploy.apply()


def test_without_a_last_good_model_a_failed_deploy_is_not_rolled_back(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    deploy = Deploy(project, tmp_path, "empty", [COMPOSE["failed"]])
    with pytest.raises(DeployError, match=r"worker \(exited, -\); their last log lines are above$"):
        deploy.apply()
    assert len(deploy.ups()) == 1
    assert drift.asked == [], "no repair after a failed deploy"


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        ("Container lmsreccompose-web-1  Creating\nError response from daemon: No such image: lmsops/web:9\n",
         "Error response from daemon: No such image: lmsops/web:9"),
        ("", "no output"),
    ],
)  # fmt: skip
def test_a_failed_up_with_every_container_fine_is_named_by_the_last_line_compose_printed(
    project: Repo, tmp_path: Path, drift: Drift, stderr: str, reason: str
) -> None:
    deploy = Deploy(project, tmp_path, "up", [{"returncode": 1, "stderr": stderr, "ps": ps("up")}])
    with pytest.raises(DeployError) as failed:
        deploy.apply()
    assert str(failed.value) == f"dev: not healthy after deploy: {reason}"


def test_containers_changed_by_hand_are_removed_and_created_again(project: Repo, tmp_path: Path, drift: Drift) -> None:
    """`up` left web alone (its config hash did not change), but web differs from the declaration."""
    drift.found = [
        Difference("dev", "web", "config", "memory", "256M", "1G", "HostConfig.Memory"),
        Difference("dev", "worker", "state", "health", "healthy", "starting"),  # not a reason to recreate
    ]
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["up"], COMPOSE["updated"]])
    assert deploy.apply() == Applied(["web"], ["worker"])
    assert [args[0] for args in deploy.engine.calls] == ["ps", "up", "ps", "rm", "up", "ps"]
    assert ("rm", "--stop", "--force", "web") in deploy.engine.calls
    assert deploy.ups() == [[str(deploy.path)], [str(deploy.path)]]
    assert deploy.lines()[0] == "    web: not as declared (changed by hand): recreating"


def test_a_failed_recreation_fails_the_deploy_naming_the_services(project: Repo, tmp_path: Path, drift: Drift) -> None:
    drift.found = [Difference("dev", "web", "config", "memory", "256M", "1G", "HostConfig.Memory")]
    broken = {"returncode": 1, "stderr": "container lmsreccompose-web-1 is unhealthy\n", "ps": ps("failed")}
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["up"], broken])
    with pytest.raises(DeployError, match=r"^dev: recreating web failed: container lmsreccompose-web-1 is unhealthy$"):
        deploy.apply()


def test_the_deploy_waits_as_long_as_the_environment_says(project: Repo, tmp_path: Path, drift: Drift) -> None:
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["up"]])
    deploy.env = environment(project, "dev", name=PROJECT, timeout=45)
    deploy.model = model(deploy.env, deploy.model.document, tmp_path)
    deploy.apply()
    [up] = [args for args in deploy.engine.calls if args[0] == "up"]
    assert up[up.index("--wait-timeout") + 1] == "45"


# -- status, down, the rest of the protocol -----------------------------------------------------------
def test_status_has_one_row_per_container_with_its_health_or_else_its_state(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    deploy = Deploy(project, tmp_path, "failed", [])
    deploy.engine.images[IMAGE] = labelled(REVISION)
    assert deploy.target.status() == [
        ServiceStatus("web", 1, 1, "unhealthy", IMAGE, REVISION[:12]),
        ServiceStatus("worker", 1, 0, "exited", IMAGE, REVISION[:12]),
    ]


def test_status_of_containers_without_a_health_check_shows_them_running(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    deploy = Deploy(project, tmp_path, "up", [])
    assert [(row.service, row.running, row.health, row.revision) for row in deploy.target.status()] == [
        ("web", 1, "healthy", "?"),  # an image without a revision label (or gone)
        ("worker", 1, "running", "?"),
    ]


@pytest.mark.parametrize(
    ("volumes", "argv", "said"),
    [
        (False, ("down", "--remove-orphans"), "removed (volumes kept; --volumes removes them)"),
        (True, ("down", "--remove-orphans", "--volumes"), "removed with its volumes"),
    ],
)
def test_down_removes_the_project_by_name_and_its_volumes_only_when_asked(
    project: Repo, tmp_path: Path, volumes: bool, argv: tuple[str, ...], said: str
) -> None:
    deploy = Deploy(project, tmp_path, "up", [])
    deploy.target.down(volumes, deploy.report)
    assert deploy.engine.calls == [argv]
    assert deploy.engine.files == [[]]
    assert deploy.lines() == [f"    {PROJECT}: {said}"]


def test_prepare_asks_only_that_the_engine_answers(project: Repo, tmp_path: Path) -> None:
    deploy = Deploy(project, tmp_path, "up", [])
    deploy.target.prepare(deploy.report, init_swarm=True)
    assert deploy.engine.calls == [("require_engine",)]
    deploy.engine.reachable = False
    with pytest.raises(PrerequisiteError):
        deploy.target.prepare(deploy.report)


def test_drift_compares_the_running_containers_with_the_models_revisions(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    deploy = Deploy(project, tmp_path, "up", [])
    drift.found = [Difference("dev", "web", "config", "memory", "256M", "1G", "HostConfig.Memory")]
    assert deploy.target.drift(deploy.model, ComposeEngine()) == drift.found
    assert drift.asked == [(deploy.engine, deploy.model, {})]


def test_a_compose_environment_keeps_no_history_and_names_its_logs_command(project: Repo, tmp_path: Path) -> None:
    deploy = Deploy(project, tmp_path, "up", [])
    with pytest.raises(ConfigError, match="dev is a Compose environment; the deploy history is kept for Swarm stacks"):
        deploy.target.history()
    assert deploy.target.logs_command("web") == f"docker compose -p {PROJECT} logs web"
    assert deploy.target.accept(deploy.model, deploy.path, "", deploy.report) is None
    assert deploy.target.description == f"Compose project {PROJECT} on the local engine"


# -- databases: PostgreSQL first, then the migrations, then the rest --------------------------------
def with_database(deploy: Deploy) -> Model:
    document = {
        "services": {"postgres": {"image": IMAGE}, "web": {"image": IMAGE}, "worker": {"image": IMAGE}},
        "secrets": {"web-db-password": {"file": "x"}},
    }
    built = model(deploy.env, document, deploy.path.parent)
    deploy.path.write_text(built.text)
    return built


def test_postgres_comes_up_and_the_databases_migrate_before_any_service_is_replaced(
    project: Repo, tmp_path: Path, drift: Drift, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["up"], COMPOSE["updated"]])
    monkeypatch.setattr(compose, "migrate_changed", lambda *_a, **_k: deploy.engine.calls.append(("migrate",)))
    deploy.target.apply(with_database(deploy), deploy.path, deploy.report)
    steps = [call for call in deploy.engine.calls if call[0] in {"up", "migrate"}]
    assert steps[0][0] == "up" and steps[0][-1] == "postgres" and "--remove-orphans" not in steps[0]
    assert steps[1] == ("migrate",)
    assert steps[2][0] == "up" and steps[2][-1] != "postgres"


def test_a_failing_migration_leaves_every_service_as_it_was(
    project: Repo, tmp_path: Path, drift: Drift, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["up"]])

    def failing(*_args: object, **_kw: object) -> list[str]:
        raise DeployError("dev: web: the migration 0002 (versions/0002.py) failed: boom")

    monkeypatch.setattr(compose, "migrate_changed", failing)
    with pytest.raises(DeployError, match="the migration 0002"):
        deploy.target.apply(with_database(deploy), deploy.path, deploy.report)
    assert [call[-1] for call in deploy.engine.calls if call[0] == "up"] == ["postgres"]


def test_postgres_that_does_not_become_healthy_stops_the_deploy_naming_it(
    project: Repo, tmp_path: Path, drift: Drift
) -> None:
    deploy = Deploy(project, tmp_path, "up", [COMPOSE["failed"]])
    with pytest.raises(DeployError, match=r"dev: postgres is not healthy .*nothing else was changed"):
        deploy.target.apply(with_database(deploy), deploy.path, deploy.report)
    assert len([call for call in deploy.engine.calls if call[0] == "up"]) == 1


def test_a_long_up_says_what_each_container_is_doing_from_composes_own_lines(
    project: Repo, tmp_path: Path, drift: Drift, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up --wait` is read as it runs: its lines summarised, a change at most every 2 s, so that a deploy
    waiting minutes for health checks is never silent; the final lines stay what they were."""
    clock = FakeClock()
    monkeypatch.setattr(compose, "time", clock)
    deploy = Deploy(project, tmp_path, "empty", [COMPOSE["up"]])
    deploy.engine.clock, deploy.engine.line_seconds = clock, 1.0
    deploy.apply()
    assert deploy.lines() == [
        "    waiting 3 s: web creating",  # one line a second: a change is shown 2 s after the last line
        "    waiting 5 s: web creating, worker created",
        "    waiting 7 s: web starting, worker created",
        "    waiting 9 s: web starting, worker started",
        "    waiting 11 s: web started, worker waiting for healthy",
        "    waiting 13 s: web waiting for healthy, worker healthy",
        f"    web: updated, running (healthy), {IMAGE}",
        f"    worker: updated, running (-), {IMAGE}",
    ]
