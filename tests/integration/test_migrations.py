"""`python -m lms_runtime.migrate` in the catalog image against real PostgreSQL (docs/migrations.md).

One PostgreSQL container (the project's postgres base) on a throwaway network for the module; the
migration jobs are one-off containers of the catalog image, as the deploy runs them. Everything is
removed at the end.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.build import Built, build
from lmsops.targets.containers import TEST_LABEL

DATABASE = "catalog"
HEAD = "0001"


@dataclass(frozen=True)
class Postgres:
    container: str
    network: str
    password: str


@pytest.fixture(scope="module")
def catalog_image(repo: Repo, docker: Docker) -> Built:
    """The catalog image (and its bases), built or found up to date by lmsops."""
    return {result.name: result for result in build(repo, docker, Reporter(), names=["catalog"], mode="offline")}[
        "catalog"
    ]


@pytest.fixture(scope="module")
def postgres(
    docker: Docker, base_images: dict[str, Built], tmp_path_factory: pytest.TempPathFactory, scratch_prefix: str
) -> Iterator[Postgres]:
    """A fresh PostgreSQL with the database and role `catalog`, alone on its own network."""
    password = secrets.token_urlsafe(16)
    secret = tmp_path_factory.mktemp("migrations") / "db-password"
    secret.write_text(password)
    secret.chmod(0o644)  # read by the container's postgres user through a read-only bind mount
    suffix = secrets.token_hex(4)
    network, container = f"{scratch_prefix}-mig-net-{suffix}", f"{scratch_prefix}-mig-pg-{suffix}"
    docker.run("network", "create", "--internal", "--label", f"{TEST_LABEL}={scratch_prefix}", network)
    try:
        docker.run_detached(
            base_images["postgres"].reference,
            name=container,
            labels={TEST_LABEL: scratch_prefix},
            env={"POSTGRES_USER": DATABASE, "POSTGRES_DB": DATABASE, "POSTGRES_PASSWORD_FILE": "/run/secrets/db"},
            binds=[(Path(secret), "/run/secrets/db")],
            network=network,
        )
        docker.wait_healthy(container, timeout=90)
        yield Postgres(container, network, password)
    finally:
        docker.remove_container(container)
        docker.run("network", "rm", network, check=False)


def migrate(docker: Docker, image: Built, db: Postgres, command: str) -> tuple[int, dict[str, Any], str]:
    """One migration job, as the deploy runs it: the image's python, the password on stdin."""
    result = docker.run_once(
        image.reference,
        env={"LMS_DATABASE_URL": f"postgresql+psycopg://{DATABASE}@{db.container}:5432/{DATABASE}"},
        entrypoint="python3",
        args=["-m", "lms_runtime.migrate", command, "--password-stdin", "--wait", "60"],
        network=db.network,
        input_bytes=f"{db.password}\n".encode(),
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"no JSON on stdout; stderr:\n{result.stderr}"
    return result.returncode, json.loads(lines[-1]), result.stderr


def psql(docker: Docker, db: Postgres, sql: str) -> str:
    result = docker.exec(
        db.container,
        *("env", f"PGPASSWORD={db.password}", "psql", "--host", "127.0.0.1", "--username", DATABASE),
        *("--dbname", DATABASE, "--tuples-only", "--no-align", "--command", sql),
    )
    assert result.returncode == 0, result.output
    return result.stdout.strip()


@pytest.fixture(scope="module")
def upgraded(docker: Docker, catalog_image: Built, postgres: Postgres) -> list[tuple[int, dict[str, Any], str]]:
    """Two migration jobs started together against the fresh database."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(migrate, docker, catalog_image, postgres, "upgrade") for _ in range(2)]
        return [job.result() for job in jobs]


def test_two_jobs_started_together_apply_each_migration_once(
    docker: Docker, postgres: Postgres, upgraded: list[tuple[int, dict[str, Any], str]]
) -> None:
    for code, report, stderr in upgraded:
        assert code == 0, stderr
        assert (report["ok"], report["database"], report["to"]) == (True, DATABASE, HEAD)
    # Whichever took the lock first applied the migration; the other waited, then found the head.
    outcomes = sorted(((report["from"], report["applied"]) for _, report, _ in upgraded), key=lambda pair: len(pair[1]))
    assert outcomes == [(HEAD, []), (None, [HEAD])], outcomes
    assert psql(docker, postgres, "select string_agg(version_num, ',') from alembic_version") == HEAD
    tables = "select count(*) from pg_tables where schemaname = 'public' and tablename in ('courses', 'course_modules')"
    assert psql(docker, postgres, tables) == "2"


def test_check_on_postgresql_finds_the_schema_equal_to_the_models(
    docker: Docker, catalog_image: Built, postgres: Postgres, upgraded: object
) -> None:
    code, report, stderr = migrate(docker, catalog_image, postgres, "check")
    assert (code, report) == (
        0,
        {"ok": True, "database": DATABASE, "revision": HEAD, "head": HEAD, "differences": []},
    ), stderr


def test_check_names_a_column_added_by_hand(
    docker: Docker, catalog_image: Built, postgres: Postgres, upgraded: object
) -> None:
    psql(docker, postgres, "alter table courses add column notes text")
    try:
        code, report, stderr = migrate(docker, catalog_image, postgres, "check")
    finally:
        psql(docker, postgres, "alter table courses drop column notes")
    assert code == 1, stderr
    assert report["ok"] is False
    assert report["differences"] == [
        {"object": "column courses.notes", "change": "in the database, not in the migrations"}
    ]
