"""`nox -s upgrade_base` (lmsops.images.upgrade) end to end without an engine: what is rebuilt, what is
tested, what the report says, and versions.yaml put back byte for byte when a build or a test fails.

Images are built by ImageDocker (a base holds its parent's Debian packages plus its EXTRA_PACKAGES, the
OS root os_packages of its version); the test runs and uv are answered by FakeRunner.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from lmsops.core import proc
from lmsops.core.paths import Repo
from lmsops.images.build import build
from lmsops.images.upgrade import UpgradeError, upgrade_base
from lmsops.images.versions import load_versions
from tests.unit.image_fakes import Call, FakeRunner, ImageDocker, add_service, fake_os_root, reply, reporter

UV = "/opt/uv/bin/uv"
PASSED = "....\n========== 5 passed in 0.41s ==========\n"
FAILED = "..F.\nFAILED tests/test_contract.py::test_version\n========== 1 failed, 3 passed in 0.52s ==========\n"


class Runs:
    """Answers pytest (failing in the folders named in `failing`) and uv (a venv is a bin/python file)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.failing: set[Path] = set()

    def __call__(self, call: Call) -> proc.Result | None:
        if "pytest" in call.argv:
            return reply(call, 1, FAILED) if call.cwd in self.failing else reply(call, 0, PASSED)
        if call.argv[0] == UV:
            if call.argv[1] == "venv":
                python = Path(call.argv[-1]) / "bin" / "python"
                python.parent.mkdir(parents=True)
                python.touch()
            return reply(call)
        return None


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> ImageDocker:
    fake = ImageDocker()
    fake.python_packages = {"catalog": {"fastapi": "0.115.0"}}
    return fake


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch, repo: Repo, docker: ImageDocker) -> Repo:
    """The three bases, catalog on python (with a dev lock, so it has unit tests) and gateway on the
    OS root, all built as declared: the baseline of an upgrade is then up to date, as after `nox -s build`."""
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


def rebuilt_names(docker: ImageDocker, since: int) -> list[str]:
    """The images built since the `since`-th build, sorted (independent images build side by side)."""
    return sorted(entry["tags"][0].split(":")[0].removeprefix("lmsops/") for entry in docker.builds[since:])


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def test_a_new_base_version_rebuilds_what_builds_on_it_tests_it_and_reports(
    platform: Repo, docker: ImageDocker, runs: tuple[Runs, FakeRunner]
) -> None:
    """python 3.11-2 with the extra package less: versions.yaml declares it, python and what builds on
    it (python-build, catalog) are rebuilt with less installed, postgres and gateway are not; the
    catalog's own unit tests and dev's conformance run; the report has it all."""
    _, runner = runs
    old_python = docker.images[load_versions(platform).reference("python")]["Id"]
    since = len(docker.builds)
    report, out = reporter()

    result = upgrade_base(platform, docker, report, "python", "3.11-2", ["less"])

    assert rebuilt_names(docker, since) == ["catalog", "python", "python-build"]
    assert result.rebuilt == ["python", "python-build", "catalog"]
    python_build = next(entry for entry in docker.builds[since:] if entry["tags"][0].startswith("lmsops/python:"))
    assert python_build["build_args"]["EXTRA_PACKAGES"] == "less"
    declared = load_versions(platform).images["python"]
    assert (declared.version, declared.packages) == ("3.11-2", ["less"])
    after = result.after["catalog"]
    assert after is not None and after.debian["less"] == "1.0" and after.reference.startswith("lmsops/catalog:0.0.0-")
    new_python = docker.images["lmsops/python:3.11-2"]["Id"]
    assert result.line("catalog") == f"{short(old_python)} -> {short(new_python)} | 1.0 MB -> 1.0 MB"

    catalog = platform.services / "catalog"
    venv = platform.work / "venvs" / "catalog"
    assert [(call.argv, call.cwd) for call in runner.calls if "pytest" in call.argv] == [
        ([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], catalog),
        ([sys.executable, "-m", "pytest", "tests/conformance", "--env", "dev", "-q", "-p", "no:cacheprovider"],
         platform.root),
    ]  # fmt: skip
    service_run = next(call for call in runner.calls if call.cwd == catalog)
    assert service_run.env == {"PYTHONPATH": str(platform.libs / "lms-runtime" / "src")}
    assert runner.argvs("uv") == [
        [UV, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "--require-hashes", "-r",
         str(catalog / "requirements-dev.lock")],
    ]  # fmt: skip
    assert [(test.name, test.passed, test.summary) for test in result.tests] == [
        ("catalog unit tests", True, "5 passed in 0.41s"),
        ("conformance of dev", True, "5 passed in 0.41s"),
    ]

    assert result.report is not None
    assert re.fullmatch(r"upgrade-python-\d{8}T\d{6}Z\.md", result.report.name)
    assert result.report.parent == platform.work / "reports"
    text = result.report.read_text()
    assert "- `python`: 3.11-1 -> 3.11-2, packages ['less']\n" in text
    assert "Rebuilt (the changed bases and everything built on them): python, python-build, catalog.\n" in text
    assert f"| catalog | {result.line('catalog')} |\n" in text and "| os |" not in text
    catalog_section = text.split("## catalog\n")[1].split("##")[0]
    assert "- Debian packages: +less 1.0\n" in catalog_section
    assert "- Python packages: none\n" in catalog_section
    assert "- catalog unit tests: passed (5 passed in 0.41s)\n" in text
    assert text.endswith("versions.yaml keeps the new versions.\n")
    screen = out.getvalue()
    assert "base-images/versions.yaml: python 3.11-1 -> 3.11-2\n" in screen
    base = f"{short(old_python)} -> {short(new_python)}"
    assert f"    catalog: base {base}, size 1.0 MB -> 1.0 MB; Debian: +less 1.0\n" in screen
    assert f"upgrade_base: report in .lmsops/reports/{result.report.name}" in screen


def test_a_base_nothing_builds_on_is_rebuilt_alone_and_a_service_venv_is_reused(
    platform: Repo, docker: ImageDocker, runs: tuple[Runs, FakeRunner]
) -> None:
    """postgres 15-2 rebuilds postgres only (no service tests then); the catalog venv made by a first
    upgrade is reused by the next one, which only installs its locked requirements again."""
    _, runner = runs
    since = len(docker.builds)
    result = upgrade_base(platform, docker, reporter()[0], "postgres", "15-2")
    assert rebuilt_names(docker, since) == ["postgres"] and result.rebuilt == ["postgres"]
    assert [test.name for test in result.tests] == ["conformance of dev"]

    upgrade_base(platform, docker, reporter()[0], "python", "3.11-2")
    upgrade_base(platform, docker, reporter()[0], "python", "3.11-3")
    assert [argv[1] for argv in runner.argvs("uv")] == ["venv", "pip", "pip"]
    assert load_versions(platform).version_of("python") == "3.11-3"


def test_a_failed_build_puts_versions_yaml_back_and_names_apts_reason(
    platform: Repo, docker: ImageDocker, runs: tuple[Runs, FakeRunner]
) -> None:
    """A package apt cannot find: the error leads with apt's own line, names the image and its
    Dockerfile, and versions.yaml is restored byte for byte (comments and spacing included); no test runs."""
    _, runner = runs
    original = "# the source of truth, edited by hand\n" + platform.versions_file.read_text() + "\n\n# end\n"
    platform.versions_file.write_text(original)
    docker.fail_build = "base-images/python/Dockerfile"

    with pytest.raises(UpgradeError) as error:
        upgrade_base(platform, docker, reporter()[0], "python", "3.11-2", ["nonexistent-package"])

    assert str(error.value).startswith(
        "upgrade failed (E: Unable to locate package nonexistent-package), base-images/versions.yaml left "
        "unchanged: building python (base-images/python/Dockerfile) failed:"
    )
    assert platform.versions_file.read_text() == original
    assert runner.calls == []
    assert not (platform.work / "reports").exists()


def test_failed_tests_put_versions_yaml_back_and_the_report_says_so(
    platform: Repo, docker: ImageDocker, runs: tuple[Runs, FakeRunner]
) -> None:
    """catalog's unit tests fail on the new base: every test still runs, the report lists the failure
    and says versions.yaml was put back, and the error names the failed run and the report."""
    answers, runner = runs
    answers.failing = {platform.services / "catalog"}
    original = platform.versions_file.read_bytes()
    report, out = reporter()

    with pytest.raises(UpgradeError) as error:
        upgrade_base(platform, docker, report, "python", "3.11-2")

    [written] = (platform.work / "reports").iterdir()
    assert str(error.value) == (
        "tests failed on the new base (catalog unit tests); base-images/versions.yaml left unchanged. "
        f"Details: .lmsops/reports/{written.name}"
    )
    assert platform.versions_file.read_bytes() == original
    assert len([call for call in runner.calls if "pytest" in call.argv]) == 2
    text = written.read_text()
    assert "- catalog unit tests: FAILED (1 failed, 3 passed in 0.52s)\n" in text
    assert "- conformance of dev: passed (5 passed in 0.41s)\n" in text
    assert text.endswith("versions.yaml was put back: the upgrade failed.\n")
    assert "catalog unit tests: FAILED (1 failed, 3 passed in 0.52s)" in out.getvalue()


def test_refreshing_every_base_bootstraps_a_new_os_root_and_rebuilds_everything(
    monkeypatch: pytest.MonkeyPatch, repo: Repo, docker: ImageDocker
) -> None:
    """`--all` raises every build number: a new OS root (today's packages: the libssl3 fix) and every
    image rebuilt on it; the report starts with the OS root's own old and new id, and says the tests
    were not run (--no-tests)."""
    made = fake_os_root(monkeypatch, docker)
    add_service(repo, "gateway", "os")
    build(repo, docker, reporter()[0])
    old_os = docker.images["debian:bookworm-slim"]["Id"]
    since = len(docker.builds)

    result = upgrade_base(repo, docker, reporter()[0], None, None, run_tests=False)

    assert made == ["12-1", "12-2"]
    assert [(change.name, change.version) for change in result.changes] == [
        ("os", "12-2"), ("python", "3.11-2"), ("python-build", "3.11-2"), ("postgres", "15-2"),
    ]  # fmt: skip
    assert result.rebuilt == ["python", "python-build", "postgres", "gateway"]
    assert rebuilt_names(docker, since) == sorted(result.rebuilt)
    assert result.tests == [] and result.ok
    new_os = docker.images["debian:bookworm-slim"]["Id"]
    assert result.line("os") == f"{short(old_os)} -> {short(new_os)} | 1.0 MB -> 1.0 MB"
    assert result.report is not None and result.report.name.startswith("upgrade-all-")
    text = result.report.read_text()
    table = text.split("|---|---|---|\n")[1].split("\n\n")[0].splitlines()
    assert [row.split(" | ")[0] for row in table] == ["| os", "| python", "| python-build", "| postgres", "| gateway"]
    for name in result.rebuilt:
        section = text.split(f"## {name}\n")[1]
        assert section.split("\n- Python")[0].endswith("Debian packages: libssl3 3.0.11-1~deb12u2 -> 3.0.15-1~deb12u1")
    assert "- not run (--no-tests)\n" in text
    assert load_versions(repo).version_of("os") == "12-2"


def test_without_uv_the_service_tests_cannot_run_and_nothing_is_kept(
    monkeypatch: pytest.MonkeyPatch, platform: Repo, docker: ImageDocker, runs: tuple[Runs, FakeRunner]
) -> None:
    """A service's tests need its locked dev requirements (uv): without uv the upgrade fails, versions.yaml restored."""
    monkeypatch.setattr(proc, "tool", lambda name: None)
    original = platform.versions_file.read_bytes()
    with pytest.raises(UpgradeError, match=r"left unchanged: uv is not installed here; run `nox -s upgrade_base`"):
        upgrade_base(platform, docker, reporter()[0], "python", "3.11-2")
    assert platform.versions_file.read_bytes() == original
