"""Ctrl-C (or anything unexpected) during `nox -s upgrade_base`: base-images/versions.yaml is put back
byte for byte, it says so, and the interruption reaches the shell as 130 (lmsops's own errors keep
their one line and exit code). Fixtures as in test_upgrade.py: ImageDocker builds, FakeRunner answers
pytest and uv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lmsops.cli import images as cli_images
from lmsops.cli import main
from lmsops.core import proc
from lmsops.core.paths import Repo
from lmsops.images.build import build
from lmsops.images.upgrade import UpgradeError, upgrade_base
from tests.unit.image_fakes import Call, FakeRunner, ImageDocker, add_service, fake_os_root, reporter
from tests.unit.test_upgrade import UV, Runs

PUT_BACK = "upgrade_base: interrupted; base-images/versions.yaml put back as it was\n"


@pytest.fixture
def docker() -> ImageDocker:
    return ImageDocker()


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch, repo: Repo, docker: ImageDocker) -> Repo:
    """As in test_upgrade.py: the bases, catalog (with unit tests) and gateway, all built as declared."""
    fake_os_root(monkeypatch, docker)
    add_service(repo, "catalog", "python", dev_lock=True)
    add_service(repo, "gateway", "os")
    build(repo, docker, reporter()[0])
    monkeypatch.setattr(proc, "tool", lambda name: UV if name == "uv" else None)
    return repo


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, platform: Repo) -> tuple[Runs, FakeRunner]:
    answers = Runs(platform)
    return answers, FakeRunner(monkeypatch, answers)


def hand_edited(repo: Repo) -> bytes:
    """versions.yaml as a person keeps it: comments and spacing that a re-serialisation would lose."""
    text = "# the source of truth, edited by hand\n" + repo.versions_file.read_text() + "\n\n# end\n"
    repo.versions_file.write_text(text)
    return text.encode()


def interrupt_building(docker: ImageDocker, monkeypatch: pytest.MonkeyPatch, name: str, error: BaseException) -> None:
    real = docker.build

    def build(**kwargs: Any) -> str:
        if kwargs["tags"][0].startswith(f"lmsops/{name}:"):
            raise error
        return str(real(**kwargs))

    monkeypatch.setattr(docker, "build", build)


@pytest.mark.usefixtures("runs")
def test_ctrl_c_while_rebuilding_puts_versions_yaml_back_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], platform: Repo, docker: ImageDocker
) -> None:
    original = hand_edited(platform)
    interrupt_building(docker, monkeypatch, "python-build", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        upgrade_base(platform, docker, reporter()[0], "python", "3.11-2", ["less"])
    assert platform.versions_file.read_bytes() == original
    assert capsys.readouterr().err == PUT_BACK
    assert not (platform.work / "reports").exists()


def test_ctrl_c_while_the_tests_run_puts_versions_yaml_back(
    capsys: pytest.CaptureFixture[str], platform: Repo, docker: ImageDocker, runs: tuple[Runs, FakeRunner]
) -> None:
    """The rebuild is done and versions.yaml holds the new version when the tests are interrupted."""
    answers, runner = runs
    original = hand_edited(platform)

    def pytest_interrupted(call: Call) -> proc.Result | None:
        if "pytest" in call.argv:
            assert b"3.11-2" in platform.versions_file.read_bytes(), "interrupted while the new version is declared"
            raise KeyboardInterrupt
        return answers(call)

    runner.answer = pytest_interrupted
    with pytest.raises(KeyboardInterrupt):
        upgrade_base(platform, docker, reporter()[0], "python", "3.11-2")
    assert platform.versions_file.read_bytes() == original
    assert capsys.readouterr().err == PUT_BACK


@pytest.mark.usefixtures("runs")
def test_an_unexpected_error_puts_versions_yaml_back_and_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], platform: Repo, docker: ImageDocker
) -> None:
    original = hand_edited(platform)
    interrupt_building(docker, monkeypatch, "catalog", RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        upgrade_base(platform, docker, reporter()[0], "python", "3.11-2")
    assert platform.versions_file.read_bytes() == original
    assert capsys.readouterr().err == (
        "upgrade_base: stopped (RuntimeError); base-images/versions.yaml put back as it was\n"
    )


@pytest.mark.usefixtures("runs")
def test_lmsops_own_errors_keep_their_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], platform: Repo, docker: ImageDocker
) -> None:
    original = hand_edited(platform)
    docker.fail_build = "base-images/python/Dockerfile"
    with pytest.raises(UpgradeError, match=r"^upgrade failed .*base-images/versions.yaml left unchanged"):
        upgrade_base(platform, docker, reporter()[0], "python", "3.11-2", ["nonexistent-package"])
    assert platform.versions_file.read_bytes() == original
    assert capsys.readouterr().err == ""  # the error's own message says it


@pytest.mark.usefixtures("runs")
def test_through_the_cli_ctrl_c_is_exit_130_with_versions_yaml_put_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], platform: Repo, docker: ImageDocker
) -> None:
    original = hand_edited(platform)
    interrupt_building(docker, monkeypatch, "python", KeyboardInterrupt())
    monkeypatch.setenv("LMSOPS_ROOT", str(platform.root))
    monkeypatch.setattr(cli_images, "engine", lambda: docker)
    assert main(["upgrade-base", "python", "3.11-2"]) == 130
    assert capsys.readouterr().err == PUT_BACK + "lmsops: interrupted\n"
    assert platform.versions_file.read_bytes() == original
    assert not list(Path(platform.root).glob("base-images/*.orig"))
