"""SwarmTarget end to end against a swarm that answers from recorded moments (tests/unit/data/convergence/
swarm.json) as a fake clock moves on: the deploy watch decides converged / updated / rolled back / timed
out from what the engine shows, puts an image changed by hand back, prunes rotated secrets only after
success; prepare, down, accept and history ask the engine what they must."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.errors import ConfigError, DeployError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.drift.compare import Difference
from lmsops.environments.model import Model
from lmsops.releases.history import RELEASE_LABEL
from lmsops.targets import swarm
from lmsops.targets.base import Applied
from lmsops.targets.lock import LOCK_LABEL, LockPolicy
from lmsops.targets.swarm import SwarmTarget, image_of, same_image
from tests.unit.target_fakes import (
    IMAGE,
    NOTHING,
    STACK,
    FakeClock,
    Reading,
    SwarmEngine,
    as_service,
    environment,
    model,
    moment,
    together,
    with_image,
)

DIGEST = "sha256:" + "4" * 64
TASK_ERROR_137 = "task: non-zero exit (137): dockerexec: unhealthy container"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The watch's time.sleep / time.monotonic: a deploy of minutes is read in a few milliseconds."""
    fake = FakeClock()
    monkeypatch.setattr(swarm, "time", fake)
    return fake


class Deploy:
    """A staging target renamed to the recorded stack, its engine, and what it reported."""

    def __init__(self, project: Repo, tmp_path: Path, engine: SwarmEngine, timeout: int | None = None) -> None:
        self.env = environment(project, "staging", name=STACK, timeout=timeout)
        self.engine = engine
        self.target = SwarmTarget(self.env, engine, tmp_path / "work")
        self.out = io.StringIO()
        self.report = Reporter(self.out)
        self.path = tmp_path / "model.yaml"

    def model(self, services: dict[str, str] | None = None, secrets: dict[str, str] | None = None) -> Model:
        """The resolved model: service -> image (two replicas each, as recorded), secret key -> name."""
        declared = {
            name: {"image": image, "deploy": {"replicas": 2}} for name, image in (services or {"web": IMAGE}).items()
        }
        document: dict[str, Any] = {"services": declared}
        if secrets:
            document["secrets"] = {key: {"name": name} for key, name in secrets.items()}
        built = model(self.env, document, self.path.parent)
        self.path.write_text(built.text)
        return built

    def apply(self, built: Model | None = None) -> Applied:
        return self.target.apply(built or self.model(), self.path, self.report)

    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


def run(
    project: Repo, tmp_path: Path, clock: FakeClock, timeline: Sequence[tuple[float, Reading]], **kw: Any
) -> Deploy:
    return Deploy(project, tmp_path, SwarmEngine(clock, timeline), **kw)


# -- convergence ------------------------------------------------------------------------------------
def test_a_stack_already_as_declared_is_unchanged_after_one_reading(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("converged"))])
    assert deploy.apply() == Applied([], ["web"])
    assert ("stack_deploy", STACK, str(deploy.path)) in deploy.engine.calls
    assert clock.sleeps == [1.0]
    assert deploy.lines() == [f"    web: unchanged, 2/2 running {IMAGE}"]


def test_an_update_is_waited_for_until_swarm_reports_it_completed(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("converged")), (1, moment("updating")), (3, moment("updated"))])
    assert deploy.apply() == Applied(["web"], [])
    assert clock.now == 3, "not done while Swarm still updates"
    assert deploy.lines() == [
        "    waiting 2 s: web 0/2 running (1 assigned, updating)",  # what it waits for, while it waits
        f"    web: updated, 2/2 running {IMAGE} (3.0 s)",
    ]


def test_swarms_monitor_window_reads_as_monitoring_not_updating(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    """Every task runs the new spec, Swarm still says 'updating' while it watches them (update_config.monitor)."""
    monitoring = moment("updated")
    monitoring["services"][0]["UpdateStatus"] = moment("updating")["services"][0]["UpdateStatus"]
    timeline = [(0, moment("converged")), (1, moment("updating")), (3, monitoring), (6, moment("updated"))]
    deploy = run(project, tmp_path, clock, timeline)
    assert deploy.apply() == Applied(["web"], [])
    assert clock.now == 6, "not done before Swarm's monitor window ends"
    assert deploy.lines() == [
        "    waiting 2 s: web 0/2 running (1 assigned, updating)",
        "    waiting 4 s: web 2/2 running (monitor window: Swarm watches the new tasks)",
        f"    web: updated, 2/2 running {IMAGE} (6.0 s)",
    ]


def test_a_service_the_deploy_creates_is_waited_for_and_counts_as_updated(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [(0, NOTHING), (3, moment("converged"))])
    assert deploy.apply() == Applied(["web"], [])
    assert clock.now == 3


def test_a_rollback_is_waited_for_and_then_fails_the_deploy_with_the_task_error(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    timeline = [(0, moment("updated")), (1, moment("rollback_started")), (4, moment("rollback_done"))]
    deploy = run(project, tmp_path, clock, timeline)
    deploy.engine.secrets = [f"{STACK}_db_v1"]
    said = "web: invalid configuration: LMS_PORT: Input should be a valid integer"
    deploy.engine.service_lines = {
        f"{STACK}_web": [f"2026-11-28T10:00:0{n}.0Z web.1.x@node1    | {said}" for n in "12"]
    }
    with pytest.raises(DeployError) as failed:
        deploy.apply(deploy.model(secrets={"db": f"{STACK}_db_v2"}))
    assert str(failed.value) == (
        "staging: web failed to update: Swarm rolled it back (rollback_completed): rollback completed "
        f"(last task error: {TASK_ERROR_137}); the previous version keeps serving; its last log lines are above"
    )
    # The failed service's own last lines, as `nox -s logs` shows them (service.SLOT@NODE | text).
    assert ("service logs", f"{STACK}_web") in deploy.engine.calls
    assert deploy.lines()[-3:] == ["    web, its last 2 log lines:", *[f"      | web.1@node1 | {said}"] * 2]
    assert clock.now == 4, "a rollback under way is not yet the verdict"
    assert deploy.engine.secrets == [f"{STACK}_db_v1"], "the version rolled back to may still read the old secret"


def test_a_rollback_an_earlier_deploy_caused_is_not_this_deploys_failure(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("rollback_done"))])
    assert deploy.apply() == Applied([], ["web"])


def test_a_task_that_keeps_restarting_times_out_naming_the_task_error(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("rollback_done")), (1, moment("restarting"))], timeout=10)
    with pytest.raises(DeployError) as failed:
        deploy.apply()
    assert str(failed.value) == (
        f"staging: web did not converge within 10 s (0/2 healthy tasks of {IMAGE}; last task error: "
        f"task: non-zero exit (1)); see `nox -s status -- staging` and `docker service logs {STACK}_web`"
    )
    assert clock.now == 11, "given the whole timeout, and not a reading more"


def test_a_timeout_never_blames_a_task_that_failed_before_this_deploy(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    """Swarm keeps failed tasks in its history; the error of one from an earlier deploy is not this one's."""
    still_updating = moment("rollback_done")
    for service in still_updating["services"]:
        service["UpdateStatus"] = {"State": "updating", "Message": "update in progress"}
    deploy = run(project, tmp_path, clock, [(0, moment("rollback_done")), (1, still_updating)], timeout=10)
    with pytest.raises(DeployError) as failed:
        deploy.apply()
    assert "web did not converge within 10 s" in str(failed.value)
    assert "last task error" not in str(failed.value) and TASK_ERROR_137 not in str(failed.value)


def test_a_paused_update_is_reported_as_paused_not_as_a_rollback(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    """A paused update may leave tasks on the new, failing version: "the previous version keeps serving"
    would be false."""
    paused = moment("updating")
    for service in paused["services"]:
        service["UpdateStatus"] = {"State": "paused", "Message": "update paused due to failure of task x"}
    deploy = run(project, tmp_path, clock, [(0, moment("converged")), (1, paused)])
    with pytest.raises(DeployError) as failed:
        deploy.apply()
    message = str(failed.value)
    assert message.startswith("staging: web failed to update: Swarm paused it (paused): update paused due to")
    assert f"docker service ps {STACK}_web" in message and "keeps serving" not in message


def test_a_timeout_without_any_failed_task_says_how_many_tasks_run(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("converged")), (1, moment("updating"))], timeout=10)
    with pytest.raises(DeployError, match=r"web did not converge within 10 s \(0/2 healthy tasks of [^;]*\); see"):
        deploy.apply()


def test_a_service_converging_on_the_last_reading_before_the_deadline_is_accepted(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    timeline = [(0, moment("converged")), (1, moment("updating")), (10, moment("updated"))]
    deploy = run(project, tmp_path, clock, timeline, timeout=10)
    assert deploy.apply() == Applied(["web"], [])


def two_services(web_before: Reading, web_after: Reading) -> list[tuple[float, Reading]]:
    """api stays converged; web goes from web_before to web_after one second into the deploy."""
    api = as_service(moment("converged"), "api")
    return [(0, together(api, web_before)), (1, together(api, web_after))]


def test_with_two_services_each_is_reported_as_it_converges(project: Repo, tmp_path: Path, clock: FakeClock) -> None:
    deploy = run(project, tmp_path, clock, two_services(moment("converged"), moment("updated")))
    assert deploy.apply(deploy.model({"api": IMAGE, "web": IMAGE})) == Applied(["web"], ["api"])
    assert deploy.lines() == [
        f"    api: unchanged, 2/2 running {IMAGE}",
        f"    web: updated, 2/2 running {IMAGE} (1.0 s)",
    ]


def test_with_two_services_the_timeout_names_the_one_that_did_not_converge(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, two_services(moment("rollback_done"), moment("restarting")), timeout=10)
    with pytest.raises(DeployError, match=r"^staging: web did not converge") as failed:
        deploy.apply(deploy.model({"api": IMAGE, "web": IMAGE}))
    assert "api" not in str(failed.value)
    assert deploy.lines() == [
        f"    api: unchanged, 2/2 running {IMAGE}",
        "    waiting 3 s: web 0/2 running (1 starting, updating, last task error: task: non-zero exit (1))",
        "    web: printed nothing",  # the one that did not converge: its last log lines (none here)
    ]


# -- images changed by hand -------------------------------------------------------------------------
def test_an_image_changed_by_hand_is_put_back_and_waited_for(project: Repo, tmp_path: Path, clock: FakeClock) -> None:
    declared = "lmsops/web:2"
    timeline = [(0, moment("converged")), (1, with_image(moment("updated"), declared))]
    deploy = run(project, tmp_path, clock, timeline)
    assert deploy.apply(deploy.model({"web": declared})) == Applied(["web"], [])
    assert ("service_set_image", f"{STACK}_web", declared) in deploy.engine.calls
    assert deploy.lines()[0] == f"    web: runs {IMAGE}, not the declared image: putting {declared} back"


def test_a_service_still_on_another_image_is_never_converged(project: Repo, tmp_path: Path, clock: FakeClock) -> None:
    """Two healthy tasks of the old image are not the declared release."""
    deploy = run(project, tmp_path, clock, [(0, moment("converged"))], timeout=10)
    with pytest.raises(DeployError, match=r"web did not converge within 10 s \(0/2 healthy tasks of lmsops/web:2\)"):
        deploy.apply(deploy.model({"web": "lmsops/web:2"}))


def test_a_tag_swarm_pinned_to_its_digest_is_the_declared_image(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [(0, with_image(moment("converged"), f"{IMAGE}@{DIGEST}"))])
    assert deploy.apply() == Applied([], ["web"])
    assert not [call for call in deploy.engine.calls if call[0] == "service_set_image"]


@pytest.mark.parametrize(
    ("declared", "running", "same"),
    [
        (IMAGE, IMAGE, True),
        (IMAGE, f"{IMAGE}@{DIGEST}", True),  # Swarm pins the tag it resolved
        (f"{IMAGE}@{DIGEST}", f"{IMAGE}@{DIGEST}", True),
        (f"{IMAGE}@{DIGEST}", f"{IMAGE}@sha256:{'5' * 64}", False),  # a digest must match exactly
        (f"{IMAGE}@{DIGEST}", IMAGE, False),
        (IMAGE, "lmsops/web:2", False),
    ],
)
def test_which_running_image_is_the_declared_one(declared: str, running: str, same: bool) -> None:
    assert same_image(declared, running) is same


def test_the_image_is_read_from_a_service_spec_and_from_a_task() -> None:
    reading = moment("converged")
    assert image_of(reading["services"][0]) == image_of(reading["tasks"][0]) == IMAGE
    assert image_of({}) == ""


# -- secrets ----------------------------------------------------------------------------------------
def test_after_convergence_the_secrets_no_service_uses_are_removed(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("converged"))])
    deploy.engine.secrets = [f"{STACK}_db_v1", f"{STACK}_db_v2", f"{STACK}_token_v1"]
    deploy.apply(deploy.model(secrets={"db": f"{STACK}_db_v2", "token": f"{STACK}_token_v1"}))
    assert deploy.engine.secrets == [f"{STACK}_db_v2", f"{STACK}_token_v1"]
    assert ("secret_rm", f"{STACK}_db_v1") in deploy.engine.calls


def test_when_every_secret_is_in_use_none_is_removed(project: Repo, tmp_path: Path, clock: FakeClock) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("converged"))])
    deploy.engine.secrets = [f"{STACK}_db_v2"]
    deploy.apply(deploy.model(secrets={"db": f"{STACK}_db_v2"}))
    assert not [call for call in deploy.engine.calls if call[0] == "secret_rm"]


# -- prepare ----------------------------------------------------------------------------------------
def test_a_swarm_manager_is_ready_as_it_is(project: Repo, tmp_path: Path, clock: FakeClock) -> None:
    deploy = run(project, tmp_path, clock, [])
    deploy.target.prepare(deploy.report)
    assert deploy.engine.calls == [("require_engine",)]


def test_a_swarm_worker_is_refused(project: Repo, tmp_path: Path, clock: FakeClock) -> None:
    deploy = run(project, tmp_path, clock, [])
    deploy.engine.swarm = ("active", False)
    with pytest.raises(ConfigError, match=r"swarm worker; point target\.context at a manager"):
        deploy.target.prepare(deploy.report, init_swarm=True)
    assert ("swarm_init",) not in deploy.engine.calls


def test_an_engine_outside_a_swarm_is_refused_unless_asked_to_init_one(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [])
    deploy.engine.swarm = ("inactive", False)
    with pytest.raises(ConfigError, match=r"not part of a swarm\. Run `nox -s deploy -- staging --init-swarm`"):
        deploy.target.prepare(deploy.report)
    assert ("swarm_init",) not in deploy.engine.calls
    deploy.target.prepare(deploy.report, init_swarm=True)
    assert ("swarm_init",) in deploy.engine.calls
    assert "initialised a single-node swarm" in deploy.out.getvalue()


def test_an_engine_that_does_not_answer_is_refused_before_anything_else(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [])
    deploy.engine.reachable = False
    with pytest.raises(PrerequisiteError):
        deploy.target.prepare(deploy.report, init_swarm=True)
    assert deploy.engine.calls == [("require_engine",)]


# -- down -------------------------------------------------------------------------------------------
def test_down_waits_until_the_stacks_networks_and_containers_are_gone_and_keeps_the_data(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [])
    deploy.engine.leftovers_until = 3
    deploy.engine.configs = {"r": {"Spec": {"Name": f"{STACK}_release_0001", "Labels": {RELEASE_LABEL: STACK}}}}
    deploy.target.down(False, deploy.report)
    assert deploy.engine.calls == [("stack_rm", STACK)]
    assert clock.now == 3
    assert deploy.lines() == [f"    {STACK}: removed (volumes and history kept; --volumes removes them)"]


def test_down_with_volumes_removes_the_stacks_volumes_and_its_release_history_only(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [])
    for name, stack in [
        (f"{STACK}_release_0001", STACK),
        (f"{STACK}_release_0002", STACK),
        ("other_release_0001", "other"),
    ]:
        deploy.engine.config_create(name, {RELEASE_LABEL: stack}, b"{}")
    deploy.target.down(True, deploy.report)
    assert ("volume_rm", f"{STACK}_data") in deploy.engine.calls
    assert ("config_rm", f"{STACK}_release_0001", f"{STACK}_release_0002") in deploy.engine.calls
    assert list(deploy.engine.configs) == ["other_release_0001"]
    assert deploy.lines() == [f"    {STACK}: removed with its volumes and release history"]


def test_down_with_volumes_of_a_stack_without_volumes_or_history_removes_nothing_more(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    deploy = run(project, tmp_path, clock, [])
    deploy.engine.volumes = []
    deploy.target.down(True, deploy.report)
    assert deploy.engine.calls == [("stack_rm", STACK)]


def test_down_gives_up_on_a_stack_that_is_not_removed_in_time(project: Repo, tmp_path: Path, clock: FakeClock) -> None:
    deploy = run(project, tmp_path, clock, [])
    deploy.engine.leftovers_until = 10_000
    with pytest.raises(DeployError, match=rf"^{STACK}: still removing after 120 s$"):
        deploy.target.down(True, deploy.report)
    assert 120 < clock.now <= 122
    assert not [call for call in deploy.engine.calls if call[0] in {"volume_rm", "config_rm"}]


# -- accept, history, drift, logs -------------------------------------------------------------------
def test_accepted_releases_are_numbered_in_the_swarm_and_kept_as_the_last_good_model(
    project: Repo, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    deploy = run(project, tmp_path, clock, [])
    first = deploy.model({"web": "lmsops/web:1"})
    assert deploy.target.history() == []
    one = deploy.target.accept(first, deploy.path, "first", deploy.report)
    second = deploy.model({"web": "lmsops/web:2"})
    two = deploy.target.accept(second, deploy.path, "second", deploy.report)
    assert one is not None and two is not None
    history = deploy.target.history()
    assert [(r.seq, r.note, r.images, r.by) for r in history] == [
        (1, "first", {"web": "lmsops/web:1"}, "ci-bot (CI)"),
        (2, "second", {"web": "lmsops/web:2"}, "ci-bot (CI)"),
    ]
    assert history[-1].model == second.text
    assert (tmp_path / "work" / "last-good.yaml").read_text() == second.text
    assert deploy.lines() == [
        "    release #1 recorded (nox -s history -- staging)",
        "    release #2 recorded (nox -s history -- staging)",
    ]


def test_drift_reads_the_target_and_takes_the_images_from_the_engine_given(
    project: Repo, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a multi-node swarm the images are on the machine that built them, not on the manager."""
    asked: list[tuple[object, object]] = []
    found = [Difference("staging", "web", "image", "image", "a", "b")]

    def compare_swarm(engine: object, model: Model, revisions: dict[str, str], *, images: object) -> list[Difference]:
        asked.append((engine, images))
        return found

    monkeypatch.setattr(swarm, "compare_swarm", compare_swarm)
    deploy = run(project, tmp_path, clock, [])
    builder = SwarmEngine(clock, [])
    assert deploy.target.drift(deploy.model(), builder) == found
    assert asked == [(deploy.engine, builder)]


def test_the_deploy_lock_is_a_config_of_the_stack_that_a_second_command_finds_taken(
    project: Repo, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another machine (another target on the same swarm) is refused while the first holds the lock."""
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    deploy = run(project, tmp_path, clock, [])
    elsewhere = SwarmTarget(deploy.env, deploy.engine, tmp_path / "elsewhere")
    with deploy.target.locked("deploy", LockPolicy(), deploy.report) as me:
        assert deploy.engine.configs[f"{STACK}_deploy_lock"]["Spec"]["Labels"] == {LOCK_LABEL: STACK}
        refused = pytest.raises(
            ConfigError, match=rf"^staging is locked by deploy by ci-bot \(CI\) .* {STACK}_deploy_lock"
        )
        with refused, elsewhere.locked("rollback", LockPolicy(wait=0), deploy.report):
            pytest.fail("two commands at once")
        assert me.command == "deploy"
    assert f"{STACK}_deploy_lock" not in deploy.engine.configs


def test_a_services_logs_are_read_with_docker_service_logs(project: Repo, tmp_path: Path, clock: FakeClock) -> None:
    deploy = run(project, tmp_path, clock, [])
    assert deploy.target.logs_command("web") == f"docker service logs {STACK}_web"
    assert deploy.target.description == f"Swarm stack {STACK} on the local engine"


# -- databases: provisioned and migrated before the rollout whenever PostgreSQL already runs ---------
@pytest.mark.parametrize("postgres_running", [True, False])
def test_databases_are_prepared_before_the_stack_rolls_when_postgres_runs_else_right_after_it_starts(
    project: Repo, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, postgres_running: bool
) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("converged"))])
    monkeypatch.setattr(swarm, "_has_running_task", lambda *_: postgres_running)

    def prepare(_docker: object, _model: Model, _report: Reporter, _running: object, *, serving: bool) -> None:
        deploy.engine.calls.append(("databases", "serving" if serving else "first start"))

    monkeypatch.setattr(swarm, "_prepare_databases", prepare)
    deploy.apply()
    order = [call[0] for call in deploy.engine.calls if call[0] in {"databases", "stack_deploy"}]
    assert order == (["databases", "stack_deploy"] if postgres_running else ["stack_deploy", "databases"])
    expected = "serving" if postgres_running else "first start"
    assert ("databases", expected) in deploy.engine.calls


def test_a_failing_migration_stops_the_deploy_before_the_stack_is_touched(
    project: Repo, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy = run(project, tmp_path, clock, [(0, moment("converged"))])
    monkeypatch.setattr(swarm, "_has_running_task", lambda *_: True)
    monkeypatch.setattr(swarm, "provision_databases", lambda *_a, **_k: [])

    def failing(*_args: object, **_kw: object) -> list[str]:
        raise DeployError("staging: catalog: the migration 0002 (versions/0002.py) failed: boom")

    monkeypatch.setattr(swarm, "migrate_changed", failing)
    with pytest.raises(DeployError, match="the migration 0002"):
        deploy.apply()
    assert not [call for call in deploy.engine.calls if call[0] == "stack_deploy"]


def test_a_long_wait_says_how_each_service_goes_when_it_changes_and_every_10_s_otherwise(
    project: Repo, tmp_path: Path, clock: FakeClock
) -> None:
    """Replicas running/desired and what the other tasks do, without a line per reading (CI logs)."""
    timeline = [(0, moment("converged")), (1, moment("updating")), (30, moment("updated"))]
    deploy = run(project, tmp_path, clock, timeline)
    assert deploy.apply() == Applied(["web"], [])
    assert deploy.lines() == [
        "    waiting 2 s: web 0/2 running (1 assigned, updating)",
        "    waiting 12 s: web 0/2 running (1 assigned, updating)",
        "    waiting 22 s: web 0/2 running (1 assigned, updating)",
        f"    web: updated, 2/2 running {IMAGE} (30.0 s)",
    ]
