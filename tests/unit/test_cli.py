"""User mistakes end in one clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsops.cli import main
from lmsops.core.paths import Repo
from tests.unit.conftest import write


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LMSOPS_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    code, err = run(["build"], capsys)
    assert code == 2
    assert "no lmsops repository here: base-images/versions.yaml not found" in err


def test_invalid_versions_file_names_the_key(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LMSOPS_ROOT", str(repo.root))
    write(repo.versions_file, repo.versions_file.read_text().replace("namespace: lmsops", "namespace: 7 7"))
    code, err = run(["build"], capsys)
    assert code == 2
    assert "lmsops: error: base-images/versions.yaml: 1 problem:" in err
    assert "namespace" in err and "Traceback" not in err


def test_literal_base_in_a_service_dockerfile(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LMSOPS_ROOT", str(repo.root))
    write(repo.services / "catalog" / "Dockerfile", "FROM python:3.12-slim\n")
    code, err = run(["build", "catalog"], capsys)
    assert code == 2
    assert "services/catalog/Dockerfile:1: FROM python:3.12-slim names an image directly" in err


def test_unknown_image_name(repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LMSOPS_ROOT", str(repo.root))
    code, err = run(["build", "pyhton"], capsys)
    assert code == 2
    assert "unknown image 'pyhton'; known images: python, python-build, postgres" in err


def test_wrong_lmsops_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LMSOPS_ROOT", str(tmp_path))
    code, err = run(["images"], capsys)
    assert code == 2
    assert f"LMSOPS_ROOT={tmp_path}: no base-images/versions.yaml there" in err
