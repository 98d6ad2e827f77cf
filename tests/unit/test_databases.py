"""Provisioning each service's role and database on the running PostgreSQL (lmsops.targets.databases):
what the one-off container is given, what it is never given, and the errors a user sees."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.targets.databases import database_services, provision_databases
from tests.unit.adapter_fakes import ScriptedEngine
from tests.unit.adapter_fakes import scripted_engine as install_scripted_engine
from tests.unit.target_fakes import environment, model

DOCUMENT: dict[str, Any] = {
    "services": {
        "postgres": {"image": "reg.example:5000/lmsops/postgres@sha256:abc", "networks": {"backend": None}},
        "catalog": {"image": "reg/lmsops/catalog@sha256:def"},
    },
    "secrets": {
        "postgres-password": {"file": "x"},
        "catalog-db-password": {"file": "x"},
        "grade-book-db-password": {"file": "x"},
        "api-token": {"file": "x"},
    },
}


@pytest.fixture
def scripted_engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    return install_scripted_engine(monkeypatch)


def secrets_folder(tmp_path: Path, **values: str) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    defaults = {"postgres-password": "super:pw\\", "catalog-db-password": "cat pw", "grade-book-db-password": "gb"}
    for name, value in (defaults | values).items():
        (folder / name).write_text(value + "\n")
    return folder


def staging_model(project: Repo, tmp_path: Path, folder: Path | None) -> Any:
    resolved = model(environment(project, "staging", name="lms-staging-t"), DOCUMENT, tmp_path)
    return dataclasses.replace(resolved, secrets_dir=folder)


def test_every_db_password_secret_is_a_database_and_nothing_else_is(project: Repo, tmp_path: Path) -> None:
    assert database_services(staging_model(project, tmp_path, None)) == ["catalog", "grade-book"]


def test_the_passwords_go_on_standard_input_only(
    project: Repo, tmp_path: Path, scripted_engine: ScriptedEngine
) -> None:
    resolved = staging_model(project, tmp_path, secrets_folder(tmp_path))
    assert provision_databases(Docker(), resolved, Reporter(), timeout=30) == ["catalog", "grade-book"]
    (call,) = scripted_engine.calls
    assert call.input == b"super:pw\\\ncatalog\tcat pw\ngrade-book\tgb\n"
    shown = " ".join(call.argv) + " ".join(f"{k}={v}" for k, v in (call.env or {}).items() if k != "PATH")
    assert "cat pw" not in shown and "super:pw" not in shown
    args = call.args
    assert args[:4] == ["run", "--rm", "--pull", "missing"]
    assert args[args.index("--network") + 1] == "lms-staging-t_backend"
    assert args[args.index("--entrypoint") + 1] == "lms-postgres-provision"
    assert {"--read-only", "no-new-privileges", "ALL"} <= set(args)
    assert "LMS_PROVISION_WAIT=30" in args and "POSTGRES_USER=postgres" in args
    assert args[-1] == "reg.example:5000/lmsops/postgres@sha256:abc"


def test_a_failure_names_the_services_and_the_cause(
    project: Repo, tmp_path: Path, scripted_engine: ScriptedEngine
) -> None:
    scripted_engine.answer("run", returncode=1, stderr="lms-postgres-provision: postgres:5432 did not accept\n")
    with pytest.raises(DeployError, match=r"catalog, grade-book failed: lms-postgres-provision: postgres:5432"):
        provision_databases(Docker(), staging_model(project, tmp_path, secrets_folder(tmp_path)), Reporter(), 30)


def test_a_network_from_before_attachable_gets_a_way_out(
    project: Repo, tmp_path: Path, scripted_engine: ScriptedEngine
) -> None:
    scripted_engine.answer("run", returncode=125, stderr="Error: network lms-staging-t_backend not manually attachable")
    with pytest.raises(DeployError, match=r"nox -s down -- staging` \(volumes are kept\)"):
        provision_databases(Docker(), staging_model(project, tmp_path, secrets_folder(tmp_path)), Reporter(), 30)


@pytest.mark.parametrize(("name", "value"), [("catalog-db-password", "a\tb"), ("catalog-db-password", "a\nb")])
def test_a_password_that_would_break_the_lines_is_refused_before_running_anything(
    project: Repo, tmp_path: Path, scripted_engine: ScriptedEngine, name: str, value: str
) -> None:
    folder = secrets_folder(tmp_path, **{name: value})
    with pytest.raises(DeployError, match=f"secret {name}: a database password may not contain"):
        provision_databases(Docker(), staging_model(project, tmp_path, folder), Reporter(), 30)
    assert scripted_engine.calls == []


def test_a_missing_secret_file_is_named(project: Repo, tmp_path: Path, scripted_engine: ScriptedEngine) -> None:
    folder = secrets_folder(tmp_path)
    (folder / "grade-book-db-password").unlink()
    with pytest.raises(DeployError, match="the secret file grade-book-db-password is missing"):
        provision_databases(Docker(), staging_model(project, tmp_path, folder), Reporter(), 30)
    assert scripted_engine.calls == []


def test_nothing_to_do_without_postgres_or_databases(
    project: Repo, tmp_path: Path, scripted_engine: ScriptedEngine
) -> None:
    resolved = staging_model(project, tmp_path, secrets_folder(tmp_path))
    without_postgres = dataclasses.replace(resolved, document={**DOCUMENT, "services": {"catalog": {}}})
    without_databases = dataclasses.replace(resolved, document={**DOCUMENT, "secrets": {"api-token": {}}})
    for each in (without_postgres, without_databases):
        assert provision_databases(Docker(), each, Reporter(), 30) == []
    assert scripted_engine.calls == []
