"""The postgres base: initialises from the environment and a password file, persists, is healthy."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.images.build import Built
from lmsops.targets.containers import scratch_container

USER = "lms_test"
DATABASE = "lms_test_db"


@pytest.fixture(scope="module")
def password_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "postgres-password"
    path.write_text(secrets.token_urlsafe(16))
    path.chmod(0o644)  # read by the container's postgres user through a read-only bind mount
    return path


@pytest.fixture(scope="module")
def postgres(docker: Docker, base_images: dict[str, Built], password_file: Path, scratch_prefix: str) -> Iterator[str]:
    env = {"POSTGRES_USER": USER, "POSTGRES_DB": DATABASE, "POSTGRES_PASSWORD_FILE": "/run/secrets/db-password"}
    with scratch_container(
        docker,
        base_images["postgres"].reference,
        env=env,
        binds=[(password_file, "/run/secrets/db-password")],
        prefix=scratch_prefix,
    ) as name:
        docker.wait_healthy(name, timeout=90)
        yield name


def psql(docker: Docker, container: str, password: str, sql: str) -> str:
    result = docker.exec(
        container,
        "env",
        f"PGPASSWORD={password}",
        "psql",
        "--host",
        "127.0.0.1",
        "--username",
        USER,
        "--dbname",
        DATABASE,
        "--tuples-only",
        "--no-align",
        "--command",
        sql,
    )
    assert result.returncode == 0, result.output
    return result.stdout.strip()


def test_runs_as_postgres_and_is_healthy(docker: Docker, postgres: str) -> None:
    assert docker.health(postgres) == "healthy"
    assert docker.exec(postgres, "id", "-un").stdout.strip() == "postgres"


def test_password_from_the_file_is_required_over_tcp(docker: Docker, postgres: str, password_file: Path) -> None:
    assert psql(docker, postgres, password_file.read_text(), "select current_user") == USER
    wrong = docker.exec(
        postgres, "env", "PGPASSWORD=wrong", "psql", "-h", "127.0.0.1", "-U", USER, "-d", DATABASE, "-c", "select 1"
    )
    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.output


def test_data_survives_a_restart(docker: Docker, postgres: str, password_file: Path) -> None:
    password = password_file.read_text()
    psql(docker, postgres, password, "create table marks (id int primary key, note text)")
    psql(docker, postgres, password, "insert into marks values (1, 'kept')")
    docker.restart_container(postgres)
    docker.wait_healthy(postgres, timeout=90)
    assert psql(docker, postgres, password, "select note from marks where id = 1") == "kept"


def test_missing_password_file_is_refused(docker: Docker, base_images: dict[str, Built], scratch_prefix: str) -> None:
    with scratch_container(docker, base_images["postgres"].reference, prefix=scratch_prefix) as name:
        docker.wait_for_log(name, "POSTGRES_PASSWORD_FILE must name a readable file", timeout=30)
