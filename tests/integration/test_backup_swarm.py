"""Backups of a Swarm environment kept in a Docker volume on its engine: one throwaway copy of staging
(lms-staging-bs) deployed once for the module, its backups in the volume lms-staging-bs-backups.
Data written through the gateway is backed up; more is written and a row changed; each service's
backup is restored by its id and exactly the rows as of the backup come back. The stack is removed
with its volumes, which leaves the backups volume (it is not the stack's): then it is removed too."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.progress import Reporter
from lmsops.data.backup import backup
from lmsops.data.manifest import Manifest
from lmsops.data.restore import restore
from lmsops.data.store import VOLUME_LABEL, BackupVolume, backup_store
from lmsops.deploy.apply import deploy
from lmsops.environments.config import load_environment
from lmsops.environments.model import model_services
from lmsops.images.build import Built
from lmsops.images.context import Context
from lmsops.targets.status import down
from tests.conftest import worker_suffix
from tests.integration.conftest import Renamed, renamed
from tests.integration.http import call, wait_for

ENV = "staging"
SUFFIX = f"-bs{worker_suffix()}"
VOLUME = f"lms-staging{SUFFIX}-backups"


@pytest.fixture(scope="module")
def envs() -> Renamed:
    """staging as lms-staging-bs on a free port, keeping its backups in the volume VOLUME."""
    copy = renamed(SUFFIX, [ENV])
    path = copy.repo.environments / f"{ENV}.yaml"
    data = yaml.safe_load(path.read_text())
    data["backups"] = {"volume": VOLUME}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


@pytest.fixture(scope="module")
def deployed(
    docker: Docker, envs: Renamed, platform_images: dict[str, Built], swarm: None, swarm_secrets: None
) -> Iterator[str]:
    assert docker.volume_labels(VOLUME) is None, f"{VOLUME} is left from an earlier run; remove it"
    kept = None
    try:
        deploy(Context(envs.repo, docker, Reporter(), "offline"), ENV)
        yield envs.gateway(ENV)
    finally:
        down(envs.repo, docker, ENV, True, Reporter())
        kept = docker.volume_labels(VOLUME)
        docker.volume_rm([VOLUME])
    assert kept == {VOLUME_LABEL: ENV}, f"down --volumes removed the backups volume, or its labels differ: {kept}"


def rows(gateway: str) -> dict[str, Any]:
    """Everything the services hold, as the API reads it."""
    courses = wait_for("GET", f"{gateway}/catalog/courses?limit=100", 200)
    enrollments = wait_for("GET", f"{gateway}/enrollment/enrollments?limit=100", 200)
    return {"courses": courses, "enrollments": enrollments}


def write(gateway: str, codes: range, learners: tuple[str, ...]) -> list[int]:
    """A published course per code with two modules, each learner enrolled in it; the courses' ids."""
    ids = []
    for number in codes:
        modules = [{"title": f"Module {number}.{m}", "summary": "..."} for m in (1, 2)]
        body = {"code": f"BS{number}01", "title": f"Course {number}", "published": True, "modules": modules}
        status, course = call("POST", f"{gateway}/catalog/courses", body)
        assert status == 201, course
        ids.append(course["id"])
        for learner in learners:
            status, answer = call(
                "POST", f"{gateway}/enrollment/enrollments", {"learner_id": learner, "course_id": course["id"]}
            )
            assert status == 201, answer
    return ids


@pytest.fixture(scope="module")
def round_trip(docker: Docker, envs: Renamed, deployed: str) -> dict[str, Any]:
    """Write, back up, write more and change a row, restore each backup by id: what was read when."""
    first = write(deployed, range(1, 3), ("ada", "grace"))
    before = rows(deployed)
    out = io.StringIO()
    report = Reporter(out)
    started = time.monotonic()
    manifests = backup(envs.repo, docker, ENV, [], report)
    backup_seconds = time.monotonic() - started
    write(deployed, range(3, 5), ("linus",))
    status, changed = call("PATCH", f"{deployed}/catalog/courses/{first[0]}", {"title": "Changed after the backup"})
    assert status == 200, changed
    changed_rows = rows(deployed)
    restore_seconds: dict[str, float] = {}
    for manifest in manifests:
        started = time.monotonic()
        restore(envs.repo, docker, ENV, manifest.id, report)
        restore_seconds[manifest.service] = time.monotonic() - started
    print(out.getvalue())  # the progress lines: sizes and seconds (docs/backups.md quotes them)
    print(f"backup {backup_seconds:.1f} s; restores {restore_seconds}")
    return {"before": before, "changed": changed_rows, "after": rows(deployed), "manifests": manifests}


def test_restoring_each_backup_gives_back_exactly_the_rows_as_of_the_backup(round_trip: dict[str, Any]) -> None:
    before, changed, after = round_trip["before"], round_trip["changed"], round_trip["after"]
    assert before["courses"]["total"] == 2 and before["enrollments"]["total"] == 4
    assert changed["courses"]["total"] == 4 and changed["enrollments"]["total"] == 6
    assert changed["courses"] != before["courses"] and "Changed after the backup" in str(changed["courses"])
    assert after == before


def test_the_backups_are_in_the_volume_on_the_engine_and_listed(
    docker: Docker, envs: Renamed, round_trip: dict[str, Any]
) -> None:
    manifests: list[Manifest] = round_trip["manifests"]
    env = load_environment(envs.repo, ENV, model_services(envs.repo))
    store = backup_store(envs.repo, docker, env)
    assert isinstance(store, BackupVolume) and store.name == VOLUME
    assert {"catalog", "enrollment"} <= {m.service for m in manifests}
    for manifest in manifests:
        assert (manifest.env, manifest.target, manifest.database) == (ENV, f"lms-staging{SUFFIX}", manifest.service)
        assert manifest.release is not None and manifest.commit, "Swarm: the running release"
        assert manifest.server_version.startswith("15.") and manifest.size > 0
    listed = store.listing()
    assert {m.id for m in manifests} <= {m.id for m in listed.backups} and listed.unreadable == []
    assert store.find(manifests[0].id) == next(m for m in listed.backups if m.id == manifests[0].id)
    # What the volume holds: each backup's dump and manifest, and no partial file left behind.
    names = docker.run_once(
        manifests[0].postgres_image,
        entrypoint="ls",
        args=("-A", "/backups"),
        options=("--network", "none", "--volume", f"{VOLUME}:/backups:ro"),
    ).stdout.split()
    expected = {f"{m.id}{suffix}" for m in listed.backups for suffix in (".dump", ".json")}
    assert set(names) == expected, names


def test_an_unknown_id_is_refused_in_one_line_naming_the_volume(
    docker: Docker, envs: Renamed, deployed: str, round_trip: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError) as refused:
        restore(envs.repo, docker, ENV, "catalog-20200101T000000000Z", Reporter(io.StringIO()))
    assert str(refused.value) == (
        f"{ENV}: no backup 'catalog-20200101T000000000Z' in volume {VOLUME} on the engine of {ENV}; "
        f"`nox -s backups -- {ENV}` lists them"
    )
    assert rows(deployed) == round_trip["before"]
