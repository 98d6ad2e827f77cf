"""Backups in a Docker volume on the environment's engine (lmsops.data.store.BackupVolume): the same
manifest, ids and checks as a folder, the work done by one-off jobs that mount the volume (the dump
never crosses this machine), the volume made on first use with its label, another's volume refused."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from lmsops.cli import common
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.data import backup as backup_module
from lmsops.data import restore as restore_module
from lmsops.data import store as store_module
from lmsops.data.backup import back_up, backup
from lmsops.data.jobs import BACKUPS_DIR
from lmsops.data.manifest import Manifest, encode
from lmsops.data.restore import restore
from lmsops.data.store import VOLUME_LABEL, BackupVolume, backup_folder, backup_store
from lmsops.environments.config import Backups, Environment
from lmsops.environments.model import Model
from tests.unit.cli_fakes import Recorder, lmsops
from tests.unit.test_backup_fakes import DUMP, Answer, FakeTarget, VolumeDocker, as_target, resolved, running

VOLUME = "lms-dev-backups"
MOUNT = f"{VOLUME}:{BACKUPS_DIR}"


def with_volume(model: Model) -> Model:
    """The model of an environment whose env file says backups: {volume: VOLUME}."""
    file = model.env.file.model_copy(update={"backups": Backups(volume=VOLUME)})
    return dataclasses.replace(model, env=dataclasses.replace(model.env, file=file))


class Setup:
    """dev with its backups in the volume VOLUME of a VolumeDocker; resolve, the target and the
    migrations faked as lmsops.data's other tests do."""

    def __init__(self, project: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_name: str = "dev") -> None:
        self.project, self.tmp_path = project, tmp_path
        path = project.environments / f"{env_name}.yaml"
        path.write_text(path.read_text().replace(f"  folder: .lmsops/backups/{env_name}", f"  volume: {VOLUME}"))
        self.docker = VolumeDocker()
        self.model = with_volume(resolved(project, tmp_path, env_name))
        self.target = FakeTarget(self.env, self.docker, running("postgres", "catalog", "enrollment"))
        self.migrate = Recorder(result=[])
        for module in (backup_module, restore_module):
            monkeypatch.setattr(module, "resolve", lambda repo, docker, env: self.model)
            monkeypatch.setattr(module, "target_of", lambda docker, model: as_target(self.target))
        monkeypatch.setattr(restore_module, "migrate_databases", self.migrate)

    @property
    def env(self) -> Environment:
        return self.model.env

    @property
    def store(self) -> BackupVolume:
        store = backup_store(self.project, self.docker, self.env, self.model)
        assert isinstance(store, BackupVolume)
        return store

    @property
    def files(self) -> dict[str, bytes]:
        return self.docker.files.get(VOLUME, {})

    def back_up(self, *services: str) -> list[Manifest]:
        return back_up(self.model, as_target(self.target), self.store, list(services), Reporter(io.StringIO()))

    def restore(self, reference: str, out: io.StringIO | None = None) -> None:
        restore(self.project, self.docker, "dev", reference, Reporter(out or io.StringIO()))

    def modes(self) -> list[str]:
        return [job.mode for job in self.docker.jobs]


@pytest.fixture
def dev(project: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(project, tmp_path, monkeypatch)


def test_a_backup_is_made_in_the_volume_which_is_created_on_first_use_with_its_label(dev: Setup) -> None:
    (manifest,) = dev.back_up("catalog")
    assert dev.docker.created == [VOLUME] and dev.docker.volumes[VOLUME] == {VOLUME_LABEL: "dev"}
    assert dev.files == {f"{manifest.id}.dump": DUMP, f"{manifest.id}.json": encode(manifest).encode()}
    assert (manifest.size, manifest.sha256) == (len(DUMP), hashlib.sha256(DUMP).hexdigest())
    assert manifest.file == f"{manifest.id}.dump" and manifest.revision == "0002_more"
    dump, keep = dev.docker.jobs
    assert (dump.mode, keep.mode) == ("backup", "keep")
    assert dump.mounts == keep.mounts == [MOUNT]
    assert dump.env["LMS_BACKUP_ID"] == keep.env["LMS_BACKUP_ID"] == manifest.id
    assert dump.network == "lms-dev_backend" and dump.input == b"su:per\n"  # the password on stdin only
    assert "--network" in keep.options and "none" in keep.options  # the volume's own files: no network
    assert {"--read-only", "no-new-privileges", "ALL", "999:999"} <= set(dump.options)
    assert json.loads(keep.input) == manifest.model_dump()
    assert not list(dev.tmp_path.rglob("*.dump")), "nothing of the dump crosses this machine"
    dev.back_up("enrollment")
    assert dev.docker.created == [VOLUME], "made once"


def test_a_failed_dump_or_keep_leaves_nothing_that_looks_like_a_backup(dev: Setup) -> None:
    dev.docker.answers["backup"] = Answer(1, "lms-postgres-backup: there is no database 'catalog' on postgres\n")
    with pytest.raises(DeployError, match=r"the backup of the database catalog failed: .*no database 'catalog'"):
        dev.back_up("catalog")
    assert dev.modes() == ["backup", "discard"] and dev.files == {}
    dev.docker.jobs.clear()
    dev.docker.answers["backup"] = Answer(0, "lms-postgres-backup: server_version=15.20\n", DUMP)
    dev.docker.answers["keep"] = Answer(1, "lms-postgres-backup: no space left on device\n")
    with pytest.raises(DeployError, match=r"keeping the backup catalog-\S+ in volume lms-dev-backups .*no space left"):
        dev.back_up("catalog")
    assert dev.modes() == ["backup", "keep", "discard"] and dev.files == {}
    assert dev.store.listing().backups == []


def test_an_older_postgres_image_whose_dump_reports_no_checksum_is_named_and_nothing_is_kept(dev: Setup) -> None:
    dev.docker.reports_checksum = False  # lms-postgres-backup before the volume store
    with pytest.raises(DeployError, match=r"did not report its size and sha256; .*`nox -s build -- postgres`"):
        dev.back_up("catalog")
    assert dev.modes() == ["backup", "discard"] and dev.files == {}


@pytest.mark.parametrize(
    ("labels", "whose"),
    [({}, "no org.lmsops.backups label"), ({VOLUME_LABEL: "production"}, "org.lmsops.backups=production")],
)
def test_a_volume_that_is_not_this_environments_backups_is_refused_before_anything_runs(
    dev: Setup, labels: dict[str, str], whose: str
) -> None:
    dev.docker.volumes[VOLUME] = labels
    expected = (
        f"env/dev.yaml: backups.volume: the volume {VOLUME} exists but is not dev's backups ({whose}); "
        "name another volume"
    )
    for attempt in (
        lambda: backup(dev.project, dev.docker, "dev", [], Reporter(io.StringIO())),
        lambda: dev.store.listing(),
        lambda: dev.restore("catalog-20261127T101530123Z"),
    ):
        with pytest.raises(ConfigError) as refused:
            attempt()
        assert str(refused.value) == expected
    assert dev.docker.jobs == [] and dev.target.locks == [] and dev.docker.created == []


def test_the_listing_reads_the_manifests_in_one_job_newest_first(dev: Setup) -> None:
    assert dev.store.listing().backups == [] and dev.docker.jobs == [], "no volume yet: nothing runs"
    first, second = dev.back_up("catalog"), dev.back_up("enrollment")
    dev.files["notes.json"] = b"{}"
    dev.files["stray.dump"] = b"no manifest"
    dev.files[".catalog-20300101T000000000Z.dump.partial"] = b"half"
    dev.docker.jobs.clear()
    listing = dev.store.listing()
    assert [m.id for m in listing.backups] == [second[0].id, first[0].id]
    assert listing.backups == [*second, *first] and listing.unreadable == ["notes.json"]
    assert dev.modes() == ["list"] and dev.docker.jobs[0].mounts == [MOUNT]
    assert dev.store.find(first[0].id) == first[0] and dev.store.find("stray") is None


def test_a_backup_is_checked_and_restored_where_it_is_by_its_id(dev: Setup) -> None:
    (manifest,) = dev.back_up("catalog")
    dev.docker.jobs.clear()
    dev.restore(manifest.id)
    _list, check, restored = dev.docker.jobs
    assert (check.mode, restored.mode) == ("check", "restore") and check.mounts == restored.mounts == [MOUNT]
    assert check.env["LMS_RESTORE_FILE"] == restored.env["LMS_RESTORE_FILE"] == manifest.file
    assert (check.env["LMS_RESTORE_SIZE"], check.env["LMS_RESTORE_SHA256"]) == (str(manifest.size), manifest.sha256)
    assert "none" in check.options and restored.network == "lms-dev_backend"
    assert restored.input == b"su:per\n" and restored.env["LMS_RESTORE_DATABASE"] == "catalog"
    assert dev.migrate.call.kwargs["services"] == ["catalog"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"data": DUMP[:-3]}, f"the dump is truncated ({len(DUMP) - 3} bytes, the manifest says {len(DUMP)}); refused"),
        ({"data": DUMP[:-1] + b"?"}, "the dump is corrupt (its sha256 differs from the manifest's); refused"),
        ({"data": None}, "is missing from the volume lms-dev-backups; refused"),
        ({"answer": Answer(1, "pg_restore: error: could not read input file: end of file\n")},
         "pg_restore cannot read it (pg_restore: error: could not read input file: end of file); refused"),
        ({"manifest": {"env": "production"}}, "a backup of production, not dev; restoring another environment"),
    ],
)  # fmt: skip
def test_what_differs_from_its_manifest_is_refused_before_anything_changes(
    dev: Setup, change: dict[str, Any], words: str
) -> None:
    (manifest,) = dev.back_up("catalog")
    if "data" in change:
        dev.files.pop(manifest.file)
        if change["data"] is not None:
            dev.files[manifest.file] = change["data"]
    if "answer" in change:
        dev.docker.answers["check"] = change["answer"]
    if "manifest" in change:
        dev.files[f"{manifest.id}.json"] = encode(manifest.model_copy(update=change["manifest"])).encode()
    dev.docker.jobs.clear()
    with pytest.raises(ConfigError) as refused:
        dev.restore(manifest.id)
    assert words in str(refused.value) and str(refused.value).startswith(manifest.id)
    assert "restore" not in dev.modes() and dev.target.locks == []


def test_an_unknown_id_names_the_volume_and_what_is_not_an_id_runs_nothing(dev: Setup) -> None:
    dev.back_up("catalog")
    dev.docker.jobs.clear()
    with pytest.raises(ConfigError) as refused:
        dev.restore("catalog-20200101T000000000Z")
    assert str(refused.value) == (
        "dev: no backup 'catalog-20200101T000000000Z' in volume lms-dev-backups on the engine of dev; "
        "`nox -s backups -- dev` lists them"
    )
    dev.docker.jobs.clear()
    with pytest.raises(ConfigError, match="no backup 'latest' in volume"):
        dev.restore("latest")
    assert dev.docker.jobs == []


def test_a_local_file_is_restored_from_this_machine_even_when_backups_are_in_a_volume(
    dev: Setup, tmp_path: Path
) -> None:
    (manifest,) = dev.back_up("catalog")
    (tmp_path / manifest.file).write_bytes(dev.files[manifest.file])
    (tmp_path / f"{manifest.id}.json").write_bytes(dev.files[f"{manifest.id}.json"])
    dev.docker.jobs.clear()
    dev.restore(str(tmp_path / manifest.file))
    assert dev.modes() == ["check", "restore"]
    assert all(job.mounts == [] for job in dev.docker.jobs) and dev.docker.jobs[1].input == b"su:per\n" + DUMP


def test_a_protected_environment_backs_up_into_its_volume_before_a_restore(
    project: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = Setup(project, tmp_path, monkeypatch, "production")
    (manifest,) = dev.back_up("catalog")
    dev.docker.jobs.clear()
    restore(project, dev.docker, "production", manifest.id, Reporter(io.StringIO()), yes=True)
    assert dev.modes() == ["list", "check", "backup", "keep", "restore"]
    assert len([name for name in dev.files if name.endswith(".json")]) == 2


def test_the_backups_command_lists_a_volume(
    dev: Setup, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(store_module, "Docker", lambda: dev.docker)
    monkeypatch.setattr(common, "Docker", lambda: dev.docker)  # the engine the CLI hands the store
    monkeypatch.setattr(store_module, "resolve", lambda repo, docker, env: dev.model)
    monkeypatch.setattr(common, "find_repo", lambda: dev.project)
    assert isinstance(backup_folder(dev.project, dev.env), BackupVolume)
    outcome = lmsops(capsys, "backups", "dev")
    assert outcome.out == f"backups: none of dev in volume {VOLUME} on the engine of dev (nox -s backup -- dev)\n"
    (manifest,) = dev.back_up("catalog")
    outcome = lmsops(capsys, "backups", "dev")
    assert outcome.code == 0 and manifest.id in outcome.out
    assert outcome.out.splitlines()[-1] == f"backups: 1 of dev in volume {VOLUME} on the engine of dev"
