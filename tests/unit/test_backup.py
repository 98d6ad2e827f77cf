"""`nox -s backup` (lmsops.data.backup, manifest, store, jobs): what a backup records, where it is
kept, that a failed one leaves nothing that looks valid, and what is refused before anything runs."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lmsops import __version__
from lmsops.core import proc
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.data import backup as backup_module
from lmsops.data.backup import back_up, backup, chosen_services, origin
from lmsops.data.manifest import Manifest, backup_id, decode, encode
from lmsops.data.store import BackupFolder, BackupStore, BackupVolume, backup_folder, backup_store
from lmsops.environments.config import Backups
from lmsops.targets.base import Target
from tests.unit.target_fakes import environment
from tests.unit.test_backup_fakes import (
    DUMP,
    Answer,
    FakeTarget,
    JobDocker,
    as_target,
    release,
    resolved,
    running,
)


def folder_in(tmp_path: Path) -> BackupFolder:
    return BackupFolder(tmp_path / "backups", "backups")


def fake_target(project: Repo, docker: JobDocker, **kwargs: Any) -> FakeTarget:
    rows = kwargs.pop("rows", running("postgres", "catalog", "enrollment"))
    return FakeTarget(environment(project, "dev"), docker, rows, **kwargs)


def dev_target(project: Repo, docker: JobDocker, **kwargs: Any) -> Target:
    return as_target(fake_target(project, docker, **kwargs))


def test_a_backup_is_the_dump_and_its_manifest_and_the_password_goes_on_stdin_only(
    project: Repo, tmp_path: Path
) -> None:
    docker, out = JobDocker(), io.StringIO()
    model = resolved(project, tmp_path)
    (manifest,) = back_up(model, dev_target(project, docker), folder_in(tmp_path), ["catalog"], Reporter(out))
    dump = tmp_path / "backups" / f"{manifest.id}.dump"
    assert dump.read_bytes() == DUMP
    on_disk = json.loads((tmp_path / "backups" / f"{manifest.id}.json").read_text())
    assert on_disk == manifest.model_dump()
    assert on_disk["format"] == "lmsops-backup" and on_disk["format_version"] == 1
    assert (manifest.env, manifest.target, manifest.service, manifest.database) == (
        "dev",
        "lms-dev",
        "catalog",
        "catalog",
    )
    assert (manifest.size, manifest.sha256) == (len(DUMP), hashlib.sha256(DUMP).hexdigest())
    assert (manifest.revision, manifest.server_version) == ("0002_more", "15.20 (Debian 15.20-0+deb12u1)")
    assert (manifest.release, manifest.commit) == (None, "abc123def456")  # Compose: the running image's revision
    assert manifest.postgres_image == "lmsops/postgres:15-1-abc" and manifest.lmsops_version == __version__
    assert manifest.taken_at.endswith("Z") and manifest.id.startswith("catalog-")
    (job,) = docker.jobs
    assert job.input == b"su:per\n"
    assert "su:per" not in " ".join([*job.options, *job.env.values()])
    assert job.env["LMS_BACKUP_DATABASE"] == "catalog" and job.network == "lms-dev_backend"
    assert {"--read-only", "no-new-privileges", "ALL"} <= set(job.options)
    assert sorted(path.name for path in (tmp_path / "backups").iterdir()) == [
        f"{manifest.id}.dump",
        f"{manifest.id}.json",
    ]
    assert f"catalog: {manifest.id} (0.0 kB, revision 0002_more" in out.getvalue()
    assert {path.stat().st_mode & 0o777 for path in (tmp_path / "backups").iterdir()} == {0o600}  # users' data
    assert (tmp_path / "backups").stat().st_mode & 0o777 == 0o700


def test_a_database_without_alembic_has_no_revision(project: Repo, tmp_path: Path) -> None:
    docker = JobDocker()
    docker.answers["backup"] = Answer(
        0, "lms-postgres-backup: server_version=15.20\nlms-postgres-backup: revision=\n", DUMP
    )
    (manifest,) = back_up(
        resolved(project, tmp_path),
        dev_target(project, docker),
        folder_in(tmp_path),
        ["catalog"],
        Reporter(io.StringIO()),
    )
    assert manifest.revision is None


def test_swarm_backups_record_the_running_release(project: Repo, tmp_path: Path) -> None:
    docker = JobDocker()
    target = dev_target(project, docker, releases=[release(1, "old"), release(7, "f00d" * 10)])
    (manifest,) = back_up(
        resolved(project, tmp_path), target, folder_in(tmp_path), ["enrollment"], Reporter(io.StringIO())
    )
    assert (manifest.release, manifest.commit) == (7, "f00d" * 10)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            Answer(1, "lms-postgres-backup: there is no database 'catalog' on postgres\n", b"partial"),
            "there is no database 'catalog'",
        ),
        (
            Answer(125, "Unable to find image 'lmsops/postgres:15-1-abc' locally\n"),
            "build it (`nox -s build -- postgres`)",
        ),
        (Answer(0, "", DUMP), "did not report its server version"),
    ],
)
def test_a_failed_backup_leaves_no_file_and_says_why(project: Repo, tmp_path: Path, answer: Answer, words: str) -> None:
    docker = JobDocker()
    docker.answers["backup"] = answer
    with pytest.raises(DeployError, match="dev: the backup of") as failed:
        back_up(
            resolved(project, tmp_path),
            dev_target(project, docker),
            folder_in(tmp_path),
            ["catalog"],
            Reporter(io.StringIO()),
        )
    assert words in str(failed.value)
    assert list((tmp_path / "backups").iterdir()) == []


def test_a_network_from_before_attachable_gets_a_way_out(project: Repo, tmp_path: Path) -> None:
    docker = JobDocker()
    docker.answers["backup"] = Answer(125, "Error: network lms-dev_backend not manually attachable\n")
    with pytest.raises(DeployError, match=r"nox -s down -- dev` \(volumes are kept\)"):
        back_up(
            resolved(project, tmp_path),
            dev_target(project, docker),
            folder_in(tmp_path),
            ["catalog"],
            Reporter(io.StringIO()),
        )


def test_nothing_runs_when_postgres_does_not(project: Repo, tmp_path: Path) -> None:
    docker = JobDocker()
    target = dev_target(project, docker, rows=running("catalog"))
    with pytest.raises(DeployError, match=r"postgres is not running, so there is nothing to back up"):
        back_up(resolved(project, tmp_path), target, folder_in(tmp_path), ["catalog"], Reporter(io.StringIO()))
    assert docker.jobs == []


def test_a_missing_superuser_secret_is_named_before_anything_runs(project: Repo, tmp_path: Path) -> None:
    model = resolved(project, tmp_path)
    assert model.secrets_dir is not None
    (model.secrets_dir / "postgres-password").unlink()
    docker = JobDocker()
    with pytest.raises(DeployError, match="the secret file postgres-password is missing"):
        back_up(model, dev_target(project, docker), folder_in(tmp_path), ["catalog"], Reporter(io.StringIO()))
    assert docker.jobs == []


def test_services_are_every_one_with_a_database_or_the_named_ones(project: Repo, tmp_path: Path) -> None:
    model = resolved(project, tmp_path)
    assert chosen_services(model, []) == ["catalog", "enrollment"]
    assert chosen_services(model, ["enrollment", "enrollment"]) == ["enrollment"]
    with pytest.raises(ConfigError) as unknown:
        chosen_services(model, ["gateway"])
    assert str(unknown.value) == "dev: 'gateway' is not a service with a database; those of dev: catalog, enrollment"


def test_backup_checks_everything_before_taking_the_lock(
    project: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = JobDocker()
    target = fake_target(project, docker)
    monkeypatch.setattr(backup_module, "resolve", lambda repo, docker, env: resolved(project, tmp_path))
    monkeypatch.setattr(backup_module, "target_of", lambda docker, model: target)
    with pytest.raises(ConfigError, match="'grades' is not a service with a database"):
        backup(project, docker, "dev", ["grades"], Reporter(io.StringIO()))
    assert target.locks == [] and docker.jobs == []
    manifests = backup(project, docker, "dev", [], Reporter(io.StringIO()))
    assert [m.service for m in manifests] == ["catalog", "enrollment"] and target.locks == ["backup"]
    assert (project.root / ".lmsops" / "backups" / "dev" / f"{manifests[0].id}.dump").is_file()


def test_origin_of_compose_and_swarm(project: Repo) -> None:
    docker = JobDocker()
    compose = dev_target(project, docker, rows=[*running("postgres"), *running("catalog", revision="?")])
    assert origin(compose).release is None and origin(compose).commit("catalog") is None


# -- the manifest and the folder ---------------------------------------------------------------------------
def sample(**changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "id": "catalog-20261127T101530123Z", "env": "dev", "target": "lms-dev", "service": "catalog",
        "database": "catalog", "file": "catalog-20261127T101530123Z.dump", "size": 3, "sha256": "0" * 64,
        "taken_at": "2026-11-27T10:15:30Z", "seconds": 0.5, "commit": None, "release": None, "revision": None,
        "server_version": "15.20", "postgres_image": "lmsops/postgres:15-1", "lmsops_version": "0.1.0",
    }  # fmt: skip
    return Manifest(**(fields | changes))


def test_ids_sort_by_time_to_the_millisecond() -> None:
    at = datetime(2026, 11, 27, 10, 15, 30, 123456, tzinfo=UTC)
    assert backup_id("catalog", at) == "catalog-20261127T101530123Z"


def test_a_manifest_reads_back_what_was_written_and_refuses_anything_else() -> None:
    assert decode(encode(sample()), "x.json") == sample()
    refusals = {
        "not json": "x.json: not an lmsops backup manifest (not JSON",
        "{}": 'x.json: not an lmsops backup manifest (no "format": "lmsops-backup"); refused',
        '{"format": "lmsops-backup", "format_version": 9}': "x.json: backup format version 9; this lmsops reads",
        json.dumps({**sample().model_dump(), "size": "big"}): "x.json: invalid backup manifest: size:",
        json.dumps({**sample().model_dump(), "extra": 1}): "x.json: invalid backup manifest: extra:",
    }
    for text, words in refusals.items():
        with pytest.raises(ConfigError) as refused:
            decode(text, "x.json")
        assert str(refused.value).startswith(words), str(refused.value)


def test_the_folder_lists_newest_first_and_names_what_it_cannot_read(tmp_path: Path) -> None:
    folder = folder_in(tmp_path)
    for when, name in (("2026-11-27T10:00:00Z", "a"), ("2026-11-28T10:00:00Z", "b")):
        folder.partial(name).write_bytes(b"abc")
        folder.keep(sample(id=name, file=f"{name}.dump", taken_at=when))
    (folder.path / "notes.json").write_text("{}")
    (folder.path / "stray.dump").write_bytes(b"no manifest")
    listing = folder.listing()
    assert [m.id for m in listing.backups] == ["b", "a"]
    assert listing.unreadable == ["notes.json"]
    assert folder.find("a") == listing.backups[1] and folder.find("stray") is None
    assert BackupFolder(tmp_path / "none", "none").listing().backups == []


def test_where_backups_are_kept(project: Repo, tmp_path: Path) -> None:
    env = environment(project, "staging")

    def store(backups: Backups | None) -> BackupStore:
        return backup_store(
            project, JobDocker(), dataclasses.replace(env, file=env.file.model_copy(update={"backups": backups}))
        )

    assert backup_folder(project, env) == BackupFolder(
        project.root / ".lmsops/backups/staging", ".lmsops/backups/staging"
    )
    assert store(None) == BackupFolder(project.root / ".lmsops/backups/staging", ".lmsops/backups/staging")
    assert store(Backups(folder=str(tmp_path / "elsewhere"))).path == tmp_path / "elsewhere"  # type: ignore[attr-defined]
    volume = store(Backups(volume="lms-backups"))
    assert isinstance(volume, BackupVolume) and (volume.name, volume.env_name) == ("lms-backups", "staging")
    assert volume.description == "volume lms-backups on the engine of staging"


# -- the streaming process seam (proc.run_streamed) ---------------------------------------------------------
def test_run_streamed_moves_binary_bytes_both_ways_without_a_shell(tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    payload = bytes(range(256)) * 9000  # 2.3 MB: more than a pipe holds, in both directions at once
    source.write_bytes(payload)
    echo = "import sys; sys.stderr.write('said\\n'); sys.stdout.buffer.write(sys.stdin.buffer.read())"
    seen: list[int] = []
    with (tmp_path / "out.bin").open("wb") as out:
        result = proc.run_streamed(
            [sys.executable, "-c", echo], input_bytes=b"line\n", input_file=source, output=out, on_bytes=seen.append
        )
    assert result.returncode == 0 and result.stderr == "said\n" and result.stdout == ""
    assert (tmp_path / "out.bin").read_bytes() == b"line\n" + payload
    assert seen[-1] == len(payload) + 5


def test_run_streamed_returns_a_failure_unchecked_even_when_the_reader_stops_early(tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"x" * 3_000_000)
    quits = "import sys; sys.stdout.write('out'); sys.stderr.write('bad archive'); sys.exit(3)"
    result = proc.run_streamed([sys.executable, "-c", quits], input_file=source)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out", "bad archive")
