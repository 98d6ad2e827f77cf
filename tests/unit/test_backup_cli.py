"""The command line of backups: `lmsops backup`, `backups`, `restore`, and the backup `down --volumes`
takes first in a protected environment; user mistakes are one line and a non-zero exit."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lmsops.cli import common, environments
from lmsops.core.errors import DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.data import backup as backup_module
from lmsops.data.store import BackupFolder, backup_folder
from tests.unit.cli_fakes import Recorder, lmsops
from tests.unit.target_fakes import environment
from tests.unit.test_backup_fakes import FakeTarget, JobDocker, as_target, resolved, running


@pytest.fixture
def docker(project: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobDocker:
    """The CLI on the project copy, with an engine that runs only the fake PostgreSQL jobs."""
    fake = JobDocker()
    target = FakeTarget(environment(project, "dev"), fake, running("postgres", "catalog", "enrollment"))
    monkeypatch.setattr(common, "find_repo", lambda: project)
    monkeypatch.setattr(common, "Docker", lambda: fake)
    monkeypatch.setattr(backup_module, "resolve", lambda repo, docker, env: resolved(project, tmp_path, env))
    monkeypatch.setattr(backup_module, "target_of", lambda docker, model: as_target(target))
    return fake


def test_backup_of_an_unknown_service_is_one_line_before_anything_runs(
    docker: JobDocker, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = lmsops(capsys, "backup", "dev", "catalog", "grades")
    assert outcome.code == 2
    assert outcome.error_line() == "dev: 'grades' is not a service with a database; those of dev: catalog, enrollment"
    assert docker.jobs == []


def test_backup_then_backups_lists_them_newest_first(
    docker: JobDocker, project: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lmsops(capsys, "backup", "dev").code == 0
    assert lmsops(capsys, "backup", "dev", "enrollment").code == 0
    outcome = lmsops(capsys, "backups", "dev")
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0].split() == ["ID", "SERVICE", "TAKEN", "(UTC)", "SIZE", "REVISION", "COMMIT", "RELEASE"]
    assert [line.split()[1] for line in lines[1:4]] == ["enrollment", "enrollment", "catalog"]
    assert lines[1].split()[-3:] == ["0002_more", "abc123def456", "-"]
    assert lines[-1] == "backups: 3 of dev in folder .lmsops/backups/dev"


def test_backups_of_an_environment_without_any(docker: JobDocker, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = lmsops(capsys, "backups", "staging")
    assert (outcome.code, outcome.out) == (
        0,
        "backups: none of staging in folder .lmsops/backups/staging (nox -s backup -- staging)\n",
    )


def test_restore_mistakes_are_one_line(docker: JobDocker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = lmsops(capsys, "restore", "production", "catalog-1")
    assert outcome.code == 2
    assert outcome.error_line() == (
        "restoring a database of production needs an explicit confirmation: "
        "nox -s restore -- production catalog-1 --yes"
    )
    outcome = lmsops(capsys, "restore", "dev", str(tmp_path / "gone.dump"))
    assert (outcome.code, outcome.error_line()) == (2, f"{tmp_path / 'gone.dump'}: no such file")
    outcome = lmsops(capsys, "restore", "prod", "x")
    assert outcome.code == 2 and outcome.error_line().startswith("unknown environment 'prod'")
    assert docker.jobs == []


def test_down_volumes_of_a_protected_environment_backs_up_first_unless_no_backup(
    docker: JobDocker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    down = Recorder()
    monkeypatch.setattr(environments, "down", down)
    for argv, backs_up in [
        (["production", "--volumes", "--yes"], True),
        (["production", "--volumes", "--yes", "--no-backup"], False),
        (["production", "--yes"], False),  # the volumes stay: nothing to back up
    ]:
        down.calls.clear()
        assert lmsops(capsys, "down", *argv).code == 0
        assert (down.call.kwargs.get("before_removal") is not None) == backs_up, argv


def test_the_backup_before_removal_is_every_database_and_its_ids_are_printed(
    docker: JobDocker, project: Repo, tmp_path: Path
) -> None:
    out = io.StringIO()
    target = FakeTarget(environment(project, "production"), docker, running("postgres", "catalog", "enrollment"))
    backup_module.backup_before_removal(project, docker, "production", Reporter(out))(as_target(target))
    kept = backup_folder(project, target.env).listing().backups
    assert sorted(m.service for m in kept) == ["catalog", "enrollment"]
    assert all(f"backup before removal: {m.id}" in out.getvalue() for m in kept)


def test_down_volumes_of_an_environment_that_is_not_protected_takes_no_backup(docker: JobDocker, project: Repo) -> None:
    target = FakeTarget(environment(project, "dev"), docker, running("postgres", "catalog", "enrollment"))
    backup_module.backup_before_removal(project, docker, "dev", Reporter(io.StringIO()))(as_target(target))
    folder = backup_folder(project, target.env)
    assert isinstance(folder, BackupFolder) and docker.jobs == [] and not folder.path.exists()


def test_a_failing_backup_before_removal_raises_so_down_removes_nothing(
    docker: JobDocker, project: Repo, tmp_path: Path
) -> None:
    target = FakeTarget(environment(project, "production"), docker, running("catalog"))  # postgres is not running
    with pytest.raises(DeployError, match="postgres is not running"):
        backup_module.backup_before_removal(project, docker, "production", Reporter(io.StringIO()))(as_target(target))
    assert docker.jobs == []
