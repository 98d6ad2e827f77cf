"""Migrations at deploy (lmsops.targets.migrations) and schema drift (lmsops.drift.schema): what each
one-off container of a service's image is given, never given, and what users read from its answers."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.drift.schema import schema_drift
from lmsops.environments.database_jobs import docker_run_error, last_json_object, pull_policy
from lmsops.targets.migrations import migrate_changed, migrate_databases
from tests.unit.adapter_fakes import Answer, Call, ScriptedEngine
from tests.unit.adapter_fakes import scripted_engine as install_scripted_engine
from tests.unit.target_fakes import environment, model

DOCUMENT: dict[str, Any] = {
    "services": {
        "postgres": {"image": "reg/postgres@sha256:abc", "networks": {"backend": None}},
        "catalog": {
            "image": "reg/catalog@sha256:new",
            "user": "10001:10001",
            "environment": {
                "LMS_DATABASE_URL": "postgresql+psycopg://catalog@postgres:5432/catalog",
                "LMS_DATABASE_PASSWORD_FILE": "/run/secrets/catalog-db-password",
                "LMS_ENV": "staging",
            },
        },
        "enrollment": {"image": "reg/enrollment@sha256:new", "environment": ["LMS_ENV=staging"]},
        "gateway": {"image": "reg/gateway@sha256:x"},
    },
    "secrets": {
        "postgres-password": {"file": "x"},
        "catalog-db-password": {"file": "x"},
        "enrollment-db-password": {"file": "x"},
    },
}


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    return install_scripted_engine(monkeypatch)


@pytest.fixture
def staging(project: Repo, tmp_path: Path) -> Any:
    folder = tmp_path / "secrets"
    folder.mkdir()
    for name, value in {
        "postgres-password": "superpw",
        "catalog-db-password": "cat-pw-1",
        "enrollment-db-password": "en-pw-2",
    }.items():
        (folder / name).write_text(value + "\n")
    resolved = model(environment(project, "staging", name="lms-staging-t"), DOCUMENT, tmp_path)
    return dataclasses.replace(resolved, secrets_dir=folder)


def image_of(call: Call) -> str:
    return next(arg for arg in call.args if arg.startswith("reg/"))


def answers(by_image: dict[str, tuple[int, dict[str, Any]]]) -> Any:
    def handler(call: Call) -> Answer:
        code, answer = by_image[image_of(call)]
        return Answer("progress\n" + json.dumps(answer) + "\n", "alembic says things\n", code, None)

    return handler


def test_each_database_is_migrated_by_its_new_image_with_its_settings_and_the_password_on_stdin_only(
    engine: ScriptedEngine, staging: Any
) -> None:
    ok = {"ok": True, "database": "catalog", "from": "0001", "to": "0002", "applied": ["0002"]}
    same = {"ok": True, "database": "enrollment", "from": "0001", "to": "0001", "applied": []}
    engine.on("run", handler=answers({"reg/catalog@sha256:new": (0, ok), "reg/enrollment@sha256:new": (0, same)}))
    out = io.StringIO()
    assert migrate_databases(Docker(), staging, Reporter(out)) == ["catalog"]
    calls = {image_of(call): call for call in engine.calls}
    catalog = calls["reg/catalog@sha256:new"]
    assert catalog.input == b"cat-pw-1\n" and calls["reg/enrollment@sha256:new"].input == b"en-pw-2\n"
    args = catalog.args
    assert args[args.index("--network") + 1] == "lms-staging-t_backend"
    assert args[args.index("--user") + 1] == "10001:10001"
    assert {"--read-only", "no-new-privileges", "ALL"} <= set(args)
    assert "LMS_DATABASE_URL=postgresql+psycopg://catalog@postgres:5432/catalog" in args and "LMS_ENV=staging" in args
    assert not any(arg.startswith("LMS_DATABASE_PASSWORD_FILE") for arg in args), "the job has no secret mounted"
    assert args[args.index("lms_runtime.migrate") + 1 :][:2] == ["upgrade", "--password-stdin"]
    assert "cat-pw-1" not in " ".join(args)
    text = out.getvalue()
    assert "catalog: database catalog migrated 0001 -> 0002 (0002)" in text
    assert "enrollment: database enrollment at its head 0001 (nothing to apply)" in text


def test_a_failing_migration_is_named_and_says_the_previous_version_keeps_serving(
    engine: ScriptedEngine, staging: Any
) -> None:
    failed = {"ok": False, "database": "catalog", "failed": "0002_boom", "file": "versions/0002_boom.py",
              "error": "DivisionByZero: division by zero"}  # fmt: skip
    same = {"ok": True, "database": "enrollment", "from": "0001", "to": "0001", "applied": []}
    engine.on("run", handler=answers({"reg/catalog@sha256:new": (1, failed), "reg/enrollment@sha256:new": (0, same)}))
    with pytest.raises(DeployError) as raised:
        migrate_databases(Docker(), staging, Reporter())
    message = str(raised.value)
    assert message.startswith(
        "staging: catalog: the migration 0002_boom (versions/0002_boom.py) failed: DivisionByZero"
    )
    assert "the previous version keeps serving" in message and "the database catalog is unchanged" in message


def test_a_job_that_dies_without_an_answer_is_reported_with_its_last_words(
    engine: ScriptedEngine, staging: Any
) -> None:
    engine.answer("run", returncode=137, stderr="Traceback ...\nMemoryError\n")
    with pytest.raises(DeployError, match=r"catalog: migrating its database failed: MemoryError; nothing was rolled"):
        migrate_databases(Docker(), staging, Reporter(), services=["catalog"])


def test_a_first_deploy_does_not_promise_a_previous_version(engine: ScriptedEngine, staging: Any) -> None:
    engine.answer("run", returncode=1, stdout=json.dumps({"ok": False, "error": "could not connect"}) + "\n")
    with pytest.raises(DeployError) as raised:
        migrate_databases(Docker(), staging, Reporter(), services=["catalog"], serving=False)
    assert "could not connect" in str(raised.value) and "previous version" not in str(raised.value)


def test_no_database_no_job(engine: ScriptedEngine, staging: Any) -> None:
    without = dataclasses.replace(staging, document={**DOCUMENT, "secrets": {"postgres-password": {}}})
    assert migrate_databases(Docker(), without, Reporter()) == []
    assert schema_drift(Docker(), without) == []
    assert engine.calls == []


def test_schema_drift_names_service_database_and_object(engine: ScriptedEngine, staging: Any) -> None:
    column = {"object": "column courses.notes", "change": "in the database, not in the migrations"}
    drifted = {"ok": False, "database": "catalog", "revision": "0001", "head": "0001", "differences": [column]}
    clean = {"ok": True, "database": "enrollment", "revision": "0001", "head": "0001", "differences": []}
    engine.on("run", handler=answers({"reg/catalog@sha256:new": (1, drifted), "reg/enrollment@sha256:new": (0, clean)}))
    (found,) = schema_drift(Docker(), staging)
    assert (found.service, found.category) == ("catalog", "schema")
    assert found.line() == (
        "catalog: database catalog: column courses.notes: declared as its migrations define (head 0001), "
        "running in the database, not in the migrations"
    )
    assert all("check" in call.args for call in engine.calls)


@pytest.mark.parametrize(
    ("code", "stdout", "reason"),
    [
        (2, json.dumps({"ok": False, "error": "could not connect to server"}), "could not connect to server"),
        (125, "", "network not found"),
        (1, json.dumps({"ok": False, "differences": []}), "without naming it"),
    ],
)
def test_a_database_that_cannot_be_checked_is_drift_not_a_pass(
    engine: ScriptedEngine, staging: Any, code: int, stdout: str, reason: str
) -> None:
    engine.answer("run", returncode=code, stdout=stdout + "\n", stderr="docker: Error: network not found\n")
    found = schema_drift(Docker(), staging)
    assert [d.service for d in found] == ["catalog", "enrollment"]
    assert all(d.running.startswith("not checked: ") and reason in d.running for d in found)


def test_only_a_whole_json_line_is_an_answer() -> None:
    assert last_json_object('x\n{"ok": true}\n\n') == {"ok": True}
    assert last_json_object('{"ok": tr') == {}
    assert last_json_object("no json at all") == {}


@pytest.mark.parametrize(
    ("image", "pull"),
    [
        ("127.0.0.1:5000/lmsops/catalog@sha256:abc", "missing"),
        ("ghcr.io/org/lmsops/catalog:1", "missing"),
        ("localhost/lmsops/catalog:1", "missing"),
        ("lmsops/catalog:0.1.0-abc", "never"),  # built here only: never a trip to Docker Hub
        ("catalog:1", "never"),
    ],
)
def test_a_job_pulls_only_from_a_registry_its_reference_names(image: str, pull: str) -> None:
    assert pull_policy(image) == pull


def test_a_failed_docker_run_is_explained_by_the_clients_own_error_not_its_help_footer() -> None:
    stderr = (
        "Unable to find image 'lmsops/catalog:1' locally\n"
        "docker: Error response from daemon: No such image: lmsops/catalog:1\n\n"
        "Run 'docker run --help' for more information\n"
    )
    assert docker_run_error(stderr, 125) == "Error response from daemon: No such image: lmsops/catalog:1"
    assert docker_run_error("migrate: boom\n", 1) == "migrate: boom"
    assert docker_run_error("", 137) == "exit code 137"


def test_only_the_services_whose_image_changes_are_migrated(engine: ScriptedEngine, staging: Any) -> None:
    """A running image had its migrations applied by the deploy that started it: a no-op deploy
    starts no migration container."""
    done = {"ok": True, "database": "catalog", "from": "0001", "to": "0002", "applied": ["0002"]}
    engine.on("run", handler=answers({"reg/catalog@sha256:new": (0, done)}))
    out = io.StringIO()
    running = {"catalog": {"reg/catalog@sha256:old"}, "enrollment": {"reg/enrollment@sha256:new"}}
    assert migrate_changed(Docker(), staging, Reporter(out), running) == ["catalog"]
    assert [image_of(call) for call in engine.calls] == ["reg/catalog@sha256:new"]
    assert "enrollment already run their declared image: nothing to migrate" in out.getvalue()
    engine.calls.clear()
    everything_runs = {"catalog": {"reg/catalog@sha256:new"}, "enrollment": {"reg/enrollment@sha256:new"}}
    assert migrate_changed(Docker(), staging, Reporter(io.StringIO()), everything_runs) == []
    assert engine.calls == []


def test_a_service_half_rolled_or_not_running_is_migrated(engine: ScriptedEngine, staging: Any) -> None:
    same = {"ok": True, "database": "x", "from": "0001", "to": "0001", "applied": []}
    engine.on("run", handler=answers({"reg/catalog@sha256:new": (0, same), "reg/enrollment@sha256:new": (0, same)}))
    half = {"catalog": {"reg/catalog@sha256:new", "reg/catalog@sha256:old"}}  # enrollment runs nothing
    migrate_changed(Docker(), staging, Reporter(io.StringIO()), half)
    assert sorted(image_of(call) for call in engine.calls) == ["reg/catalog@sha256:new", "reg/enrollment@sha256:new"]
