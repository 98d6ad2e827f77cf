"""`nox -s restore` (lmsops.data.restore): every refusal comes before anything changes, in one line;
a protected environment needs --yes and is backed up first unless --no-backup; a restore runs under
the deploy lock and is followed by the migrations of the image that runs."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.data import restore as restore_module
from lmsops.data.backup import back_up
from lmsops.data.manifest import Manifest, encode
from lmsops.data.restore import restore
from lmsops.data.store import BackupFolder, backup_folder
from tests.unit.cli_fakes import Recorder
from tests.unit.target_fakes import environment
from tests.unit.test_backup_fakes import Answer, FakeTarget, JobDocker, as_target, resolved, running


class Setup:
    """One environment (dev or production) with a backup of catalog in its folder, resolve and the
    target faked, migrate_databases recorded."""

    def __init__(self, project: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_name: str = "dev") -> None:
        self.project, self.env_name = project, env_name
        self.out = io.StringIO()
        self.docker = JobDocker()
        self.model = resolved(project, tmp_path, env_name)
        self.target = FakeTarget(
            environment(project, env_name), self.docker, running("postgres", "catalog", "enrollment")
        )
        folder = backup_folder(project, self.model.env)
        assert isinstance(folder, BackupFolder)
        self.folder = folder
        (self.manifest,) = back_up(
            self.model, as_target(self.target), self.folder, ["catalog"], Reporter(io.StringIO())
        )
        self.docker.jobs.clear()
        self.resolves = Recorder(result=self.model)
        self.migrate = Recorder(result=[])
        monkeypatch.setattr(restore_module, "resolve", self.resolves)
        monkeypatch.setattr(restore_module, "target_of", lambda docker, model: as_target(self.target))
        monkeypatch.setattr(restore_module, "migrate_databases", self.migrate)

    def restore(self, reference: str, **flags: Any) -> Manifest | None:
        return restore(self.project, self.docker, self.env_name, reference, Reporter(self.out), **flags)

    @property
    def dump(self) -> Path:
        return self.folder.dump(self.manifest.id)

    def modes(self) -> list[str]:
        return [job.mode for job in self.docker.jobs]


@pytest.fixture
def dev(project: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(project, tmp_path, monkeypatch)


def test_a_backup_by_id_is_checked_restored_under_the_lock_then_migrated_with_the_running_image(dev: Setup) -> None:
    assert dev.restore(dev.manifest.id) is None  # dev is not protected: no backup first
    assert dev.modes() == ["check", "restore"]
    check, job = dev.docker.jobs
    assert "--network" in check.options and check.options[check.options.index("--network") + 1] == "none"
    assert job.input == b"su:per\n" + dev.dump.read_bytes()
    assert (job.env["LMS_RESTORE_DATABASE"], job.env["LMS_RESTORE_ROLE"]) == ("catalog", "catalog")
    assert dev.target.locks == ["restore"]
    (_docker, migrated, _report), kwargs = dev.migrate.call.args, dev.migrate.call.kwargs
    assert kwargs == {"services": ["catalog"]}
    assert migrated.document["services"]["catalog"]["image"] == "lmsops/catalog:running"  # not this checkout's


def test_a_backup_by_the_path_of_its_dump_or_manifest(dev: Setup) -> None:
    dev.restore(str(dev.dump))
    dev.restore(str(dev.folder.manifest(dev.manifest.id)))
    assert dev.modes() == ["check", "restore", "check", "restore"]


def refused(setup: Setup, reference: str) -> str:
    with pytest.raises(ConfigError) as refusal:
        setup.restore(reference)
    assert setup.modes() in ([], ["check"]) and setup.migrate.calls == [] and setup.target.locks == []
    message = str(refusal.value)
    assert "\n" not in message
    return message


def test_an_unknown_id_says_how_to_list_them(dev: Setup) -> None:
    assert refused(dev, "catalog-1999") == (
        "dev: no backup 'catalog-1999' in folder .lmsops/backups/dev; `nox -s backups -- dev` lists them"
    )


def test_a_foreign_file_without_a_manifest_is_refused(dev: Setup, tmp_path: Path) -> None:
    foreign = tmp_path / "dump.sql"
    foreign.write_text("CREATE TABLE x();")
    assert refused(dev, str(foreign)).endswith(
        "no lmsops manifest beside it (dump.json); only backups made by `nox -s backup` are restored; refused"
    )
    (tmp_path / "dump.json").write_text('{"hello": 1}')
    assert "not an lmsops backup manifest" in refused(dev, str(foreign))
    assert refused(dev, str(tmp_path / "nothing.dump")) == f"{tmp_path / 'nothing.dump'}: no such file"


def test_a_truncated_or_corrupt_dump_is_refused_before_any_container_runs(dev: Setup) -> None:
    data = dev.dump.read_bytes()
    dev.dump.write_bytes(data[:-3])
    assert f"the dump is truncated ({len(data) - 3} bytes, the manifest says {len(data)}); refused" in refused(
        dev, dev.manifest.id
    )
    dev.dump.write_bytes(data[:-3] + b"xyz")
    assert refused(dev, dev.manifest.id).endswith(
        "the dump is corrupt (its sha256 differs from the manifest's); refused"
    )
    dev.dump.unlink()
    assert "its dump" in refused(dev, dev.manifest.id) and dev.modes() == []


def test_what_pg_restore_cannot_read_is_refused(dev: Setup) -> None:
    dev.docker.answers["check"] = Answer(1, "pg_restore: error: could not read from input file: end of file\n")
    assert refused(dev, dev.manifest.id) == (
        f"{dev.manifest.id}: pg_restore cannot read it (pg_restore: error: could not read from input file: end of "
        "file); refused"
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"env": "staging"}, "a backup of staging, not dev; restoring another environment's data is refused"),
        ({"service": "gateway"}, "a backup of gateway, which has no database in dev; refused"),
        ({"database": "enrollment"}, "a backup of the database enrollment, but catalog's is catalog; refused"),
    ],
)
def test_a_backup_of_another_environment_or_service_is_refused(dev: Setup, change: dict[str, str], words: str) -> None:
    path = dev.folder.manifest(dev.manifest.id)
    path.write_text(encode(dev.manifest.model_copy(update=change)))
    assert words in refused(dev, dev.manifest.id)


def test_a_failed_restore_is_not_migrated_and_says_the_data_is_unchanged(dev: Setup) -> None:
    dev.docker.answers["restore"] = Answer(
        1, "pg_restore: error: ...\nlms-postgres-restore: failed; catalog is unchanged and writable again\n"
    )
    with pytest.raises(DeployError, match="dev: restoring the database catalog failed, it is unchanged: lms-postgres"):
        dev.restore(dev.manifest.id)
    assert dev.migrate.calls == []


def test_a_failed_migration_says_the_data_was_restored(dev: Setup) -> None:
    dev.migrate.error = DeployError("dev: catalog: migrating its database failed: 0003 broke")
    with pytest.raises(
        DeployError, match=r"dev: catalog was restored from catalog-.*, but migrating it failed: dev: catalog"
    ):
        dev.restore(dev.manifest.id)


# -- a protected environment (production: target.confirm: true) ---------------------------------------------
@pytest.fixture
def production(project: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(project, tmp_path, monkeypatch, "production")


def test_production_needs_yes_before_anything_is_read(production: Setup) -> None:
    with pytest.raises(ConfigError) as refusal:
        production.restore(production.manifest.id)
    assert str(refusal.value) == (
        f"restoring a database of production needs an explicit confirmation: nox -s restore -- production "
        f"{production.manifest.id} --yes"
    )
    assert production.resolves.calls == [] and production.docker.jobs == []


def test_production_backs_the_database_up_first_unless_no_backup(production: Setup) -> None:
    first = production.restore(production.manifest.id, yes=True)
    assert first is not None and first.service == "catalog" and first.id != production.manifest.id
    assert production.modes() == ["check", "backup", "restore"]
    assert f"backup before the restore: {first.id}" in production.out.getvalue()
    production.docker.jobs.clear()
    assert production.restore(production.manifest.id, yes=True, no_backup=True) is None
    assert production.modes() == ["check", "restore"]


def test_when_the_backup_first_fails_nothing_is_restored(production: Setup) -> None:
    production.docker.answers["backup"] = Answer(1, "lms-postgres-backup: disk full\n")
    with pytest.raises(DeployError, match="disk full"):
        production.restore(production.manifest.id, yes=True)
    assert production.modes() == ["check", "backup"] and production.migrate.calls == []
