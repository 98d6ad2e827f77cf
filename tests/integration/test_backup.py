"""Backups and restore against real containers: one throwaway copy of dev (lms-dev-bk), deployed
once for the module. Data written through the gateway is backed up, the environment is removed with
its volumes and deployed again, each service's backup is restored, and exactly the same rows come
back. A corrupt, a truncated and a foreign backup are each refused in one line, changing nothing."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.progress import Reporter
from lmsops.data.backup import backup
from lmsops.data.manifest import Manifest, encode, sha256_of
from lmsops.data.restore import restore
from lmsops.deploy.apply import deploy
from lmsops.images.build import Built
from lmsops.images.context import Context
from lmsops.targets.status import down
from tests.conftest import worker_suffix
from tests.integration.conftest import Renamed, renamed
from tests.integration.http import call, wait_for

ENV = "dev"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backups")


@pytest.fixture(scope="module")
def envs(folder: Path) -> Renamed:
    """dev as lms-dev-bk on a free port, keeping its backups in this module's temporary folder."""
    copy = renamed(f"-bk{worker_suffix()}", [ENV])
    path = copy.repo.environments / f"{ENV}.yaml"
    data = yaml.safe_load(path.read_text())
    data["backups"] = {"folder": str(folder)}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def ctx(envs: Renamed, docker: Docker) -> Context:
    return Context(envs.repo, docker, Reporter(), "offline")


@pytest.fixture(scope="module")
def deployed(docker: Docker, envs: Renamed, platform_images: dict[str, Built]) -> Iterator[str]:
    try:
        deploy(ctx(envs, docker), ENV)
        yield envs.gateway(ENV)
    finally:
        down(envs.repo, docker, ENV, True, Reporter())


def rows(gateway: str) -> dict[str, Any]:
    """Everything the services hold, as the API reads it."""
    courses = wait_for("GET", f"{gateway}/catalog/courses?limit=100", 200)
    enrollments = wait_for("GET", f"{gateway}/enrollment/enrollments?limit=100", 200)
    return {"courses": courses, "enrollments": enrollments}


def write_data(gateway: str) -> None:
    """Three courses with 2-4 modules each, two learners enrolled in each (enrollment needs a published course)."""
    for number in range(1, 4):
        modules = [{"title": f"Module {number}.{m}", "summary": "..."} for m in range(1, number + 2)]
        body = {"code": f"BK{number}01", "title": f"Course {number}", "published": True, "modules": modules}
        status, course = call("POST", f"{gateway}/catalog/courses", body)
        assert status == 201, course
        for learner in ("ada", "grace"):
            enrollment = {"learner_id": learner, "course_id": course["id"]}
            status, answer = call("POST", f"{gateway}/enrollment/enrollments", enrollment)
            assert status == 201, answer


@pytest.fixture(scope="module")
def round_trip(docker: Docker, envs: Renamed, deployed: str) -> dict[str, Any]:
    """Write, back up, down --volumes, deploy, restore each backup: what was read before and after."""
    write_data(deployed)
    before = rows(deployed)
    out = io.StringIO()
    report = Reporter(out)
    manifests = backup(envs.repo, docker, ENV, [], report)
    down(envs.repo, docker, ENV, True, report)
    deploy(ctx(envs, docker), ENV)
    emptied = rows(deployed)
    for manifest in manifests:
        restore(envs.repo, docker, ENV, manifest.id, report)
    print(out.getvalue())  # the progress lines: sizes and seconds (docs/backups.md quotes them)
    return {"before": before, "emptied": emptied, "after": rows(deployed), "manifests": manifests}


def test_a_backup_restored_after_down_volumes_gives_back_exactly_the_same_rows(round_trip: dict[str, Any]) -> None:
    before, emptied, after = round_trip["before"], round_trip["emptied"], round_trip["after"]
    assert before["courses"]["total"] == 3 and before["enrollments"]["total"] == 6
    assert emptied["courses"]["total"] == 0 and emptied["enrollments"]["total"] == 0, "down --volumes removed the data"
    assert after == before


def test_each_backup_has_its_manifest(round_trip: dict[str, Any], folder: Path) -> None:
    manifests: list[Manifest] = round_trip["manifests"]
    assert sorted(m.service for m in manifests) == ["catalog", "enrollment"]
    for manifest in manifests:
        dump = folder / manifest.file
        assert (manifest.env, manifest.target, manifest.database) == (
            ENV,
            f"lms-dev-bk{worker_suffix()}",
            manifest.service,
        )
        assert dump.stat().st_size == manifest.size > 0 and sha256_of(dump) == manifest.sha256
        assert manifest.release is None, "Compose keeps no release history"
        assert manifest.server_version.startswith("15.")
    assert not list(folder.glob(".*")), "no partial file is left"


def copy_backup(folder: Path, manifest: Manifest, into: Path, name: str) -> tuple[Path, Manifest]:
    dump = into / f"{name}.dump"
    shutil.copyfile(folder / manifest.file, dump)
    copied = manifest.model_copy(update={"file": dump.name})
    (into / f"{name}.json").write_text(encode(copied))
    return dump, copied


def test_corrupt_truncated_and_foreign_backups_are_refused_and_nothing_changes(
    docker: Docker, envs: Renamed, deployed: str, round_trip: dict[str, Any], folder: Path, tmp_path: Path
) -> None:
    catalog = next(m for m in round_trip["manifests"] if m.service == "catalog")
    corrupt, _ = copy_backup(folder, catalog, tmp_path, "corrupt")
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    # Cut short with a manifest that matches it (as if cut before its manifest was written): only
    # pg_restore, reading the archive in a one-off container, can tell.
    truncated, manifest = copy_backup(folder, catalog, tmp_path, "truncated")
    truncated.write_bytes(truncated.read_bytes()[: manifest.size * 2 // 3])
    refit = manifest.model_copy(update={"size": truncated.stat().st_size, "sha256": sha256_of(truncated)})
    (tmp_path / "truncated.json").write_text(encode(refit))
    foreign = tmp_path / "foreign.dump"
    foreign.write_bytes(b"PGDMP not really\n")
    expected = {
        corrupt: "the dump is corrupt (its sha256 differs from the manifest's); refused",
        truncated: "pg_restore cannot read it",
        foreign: "no lmsops manifest beside it (foreign.json); only backups made by `nox -s backup` are restored",
    }
    for path, words in expected.items():
        with pytest.raises(ConfigError) as refused:
            restore(envs.repo, docker, ENV, str(path), Reporter(io.StringIO()))
        message = str(refused.value)
        assert words in message and "\n" not in message, message
    assert rows(deployed) == round_trip["before"]
