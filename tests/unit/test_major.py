"""Major upgrades (lmsops.images.major): the per-suite facts, the edits, the checks before any change,
and every file put back whatever phase fails. The mirror is a loopback HTTP server holding a Release
file and a package index; the builds, the bootstrap and the tests are stand-ins recorded per phase."""

from __future__ import annotations

import http.server
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError, ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.images import major, major_report
from lmsops.images.facts import ImageFacts
from lmsops.images.major import LockSet, MajorUpgradeError, Snapshot, plan_major, require_clean, upgrade_major
from lmsops.images.suites import matches, read_mirror
from lmsops.images.upgrade import TestRun as Run
from lmsops.images.versions import load_versions, postgres_major, python_minor
from lmsops.images.versions_edit import BaseChange, OsChange, apply
from tests.debian_mirror import Mirror, serving
from tests.unit.conftest import PROJECT, write
from tests.unit.fakes import FakeDocker
from tests.unit.image_fakes import reporter

SUITES = """\
suites:
  bookworm:
    python: {version: "3.11", package: python3}
    python-build: {version: "3.11", package: python3}
    postgres: {version: "15", package: postgresql}
    registry: {version: "2.8", package: docker-registry}
  trixie:
    python: {version: "3.13", package: python3}
    python-build: {version: "3.13", package: python3}
    postgres: {version: "17", package: postgresql}
    registry: {version: "2.8", package: docker-registry}
"""
TRIXIE = {
    "python3": "3.13.5-1",
    "postgresql": "17+278+deb13u1",
    "docker-registry": "2.8.3+ds1-2",
    "tini": "0.19.0-3+b8",
}


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    with serving() as server:
        server.add("trixie", "13.8", TRIXIE)
        yield server


@pytest.fixture
def bookworm(repo: Repo, mirror: Mirror) -> Repo:
    """The fixture repository on bookworm, its mirror the loopback one, suites.yaml, a lib and a service."""
    text = repo.versions_file.read_text().replace("http://deb.debian.org/debian", mirror.url)
    repo.versions_file.write_text(text + '  registry:\n    version: "2.8-3"\n')  # its version stays on trixie
    write(repo.base_images / "registry" / "Dockerfile", "ARG OS_IMAGE\nFROM ${OS_IMAGE}\nRUN true\n")
    write(repo.base_images / "suites.yaml", SUITES)
    write(repo.libs / "lms-runtime" / "requirements.in", "pydantic\n")
    write(repo.libs / "lms-runtime" / "requirements.lock", "pydantic==2.0 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    write(repo.services / "catalog" / "requirements.in", "fastapi\n")  # its lock does not exist yet
    return repo


def everything(repo: Repo) -> dict[str, bytes]:
    files = [path for path in sorted(repo.root.rglob("*")) if path.is_file() and ".lmsops" not in path.parts]
    return {str(path.relative_to(repo.root)): path.read_bytes() for path in files}


# --- the per-suite facts -------------------------------------------------------------------------------


def test_the_interpreter_and_postgres_major_are_read_from_the_bases_versions(repo: Repo) -> None:
    versions = load_versions(repo)
    assert (python_minor(versions), postgres_major(versions)) == ("3.11", "15")
    apply(repo, [BaseChange("python", "3.13-1"), BaseChange("postgres", "17-2")])
    versions = load_versions(repo)
    assert (python_minor(versions), postgres_major(versions)) == ("3.13", "17")
    apply(repo, [BaseChange("python", "latest")])
    with pytest.raises(ConfigError, match=r"images.python.version 'latest' must start with the Python minor"):
        python_minor(load_versions(repo))


@pytest.mark.parametrize(
    ("upstream", "debian", "expected"),
    [("3.13", "3.13.5-1", True), ("17", "17+278+deb13u1", True), ("2.8", "2.8.3+ds1-2+b8", True),
     ("26.1", "26.1.5+dfsg1-9", True), ("2.8", "1:2.8.3-1", True), ("3.1", "3.13.5-1", False), ("17", "170-1", False)],
)  # fmt: skip
def test_a_debian_version_carries_the_upstream_version_it_starts_with(
    upstream: str, debian: str, expected: bool
) -> None:
    assert matches(upstream, debian) is expected


def test_this_repository_knows_bookworm_and_trixie_and_every_base_on_them() -> None:
    """The real suites.yaml names every base of the real versions.yaml on both suites."""
    from lmsops.images.suites import load_suites

    suites = load_suites(PROJECT).suites
    for suite in ("bookworm", "trixie"):
        assert set(suites[suite]) == set(load_versions(PROJECT).images)
    assert (suites["trixie"]["python"].version, suites["trixie"]["postgres"].version) == ("3.13", "17")


# --- the mirror -------------------------------------------------------------------------------------------


def test_the_mirror_gives_the_release_number_and_the_package_versions(mirror: Mirror) -> None:
    found = read_mirror(mirror.url, "trixie")
    assert (found.codename, found.release, found.major) == ("trixie", "13.8", "13")
    assert found.packages == TRIXIE


def test_a_suite_the_mirror_lacks_is_the_users_error_and_a_dead_mirror_the_machines(mirror: Mirror) -> None:
    with pytest.raises(ConfigError, match=r"the mirror has no suite 'forky' \(.*404\)") as missing:
        read_mirror(mirror.url, "forky")
    assert missing.value.exit_code == 2
    mirror.add("stable", "13.8", TRIXIE, codename="trixie")
    with pytest.raises(ConfigError, match=r"Release names the suite 'trixie', not 'stable'; give a codename"):
        read_mirror(mirror.url, "stable")
    with socket_closed() as dead, pytest.raises(PrerequisiteError, match="not reachable") as unreachable:
        read_mirror(dead, "trixie")
    assert unreachable.value.exit_code == 3


class socket_closed:  # noqa: N801 (reads as a context)
    """A loopback URL on which nothing listens (a port taken, then released)."""

    def __enter__(self) -> str:
        server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        port = server.server_address[1]
        server.server_close()
        return f"http://127.0.0.1:{port}/debian"

    def __exit__(self, *exc: object) -> None:
        return None


# --- the plan and the edit -----------------------------------------------------------------------------


def test_the_plan_moves_the_os_and_every_base_to_their_versions_on_the_suite(bookworm: Repo) -> None:
    before = bookworm.versions_file.read_bytes()
    plan = plan_major(bookworm, load_versions(bookworm), "trixie", None)
    assert plan.os_change == OsChange("trixie", "debian:trixie-slim", "13-1", None)
    assert [(c.name, c.version) for c in plan.changes] == [
        ("python", "3.13-1"),
        ("python-build", "3.13-1"),
        ("postgres", "17-1"),
        ("registry", "2.8-4"),  # 2.8 on both suites: the next build, so nothing built on trixie says 2.8-3
    ]
    assert plan.release == "13.8"
    assert bookworm.versions_file.read_bytes() == before, "planning writes nothing"


def test_the_edit_keeps_comments_and_writes_a_null_digest_that_says_why(bookworm: Repo) -> None:
    plan = plan_major(bookworm, load_versions(bookworm), "trixie", None)
    new = apply(bookworm, plan.changes, plan.os_change)
    text = bookworm.versions_file.read_text()
    assert "  digest: null  # not pinned yet: bootstrapped from Debian packages" in text
    assert "  reference: debian:trixie-slim\n" in text and '  version: "13-1"\n' in text and "  suite: trixie\n" in text
    assert (new.os.digest, python_minor(new), postgres_major(new)) == (None, "3.13", "17")
    digest = "sha256:" + "b" * 64
    apply(bookworm, [], OsChange("trixie", "debian:trixie-slim", "13-1", digest))
    assert load_versions(bookworm).os.digest == digest


@pytest.mark.parametrize(
    ("suite", "digest", "message"),
    [
        ("bookworm", None, "the OS root is already on bookworm"),
        ("sid", None, r"base-images/suites.yaml has no suite 'sid' \(known: bookworm, trixie\)"),
        ("trixie", "sha256:short", r"os.digest"),
    ],
)
def test_refusals_before_any_change_are_one_line_exit_2(
    bookworm: Repo, suite: str, digest: str | None, message: str
) -> None:
    before = everything(bookworm)
    with pytest.raises(ConfigError, match=message) as refused:
        plan_major(bookworm, load_versions(bookworm), suite, digest)
    assert refused.value.exit_code == 2
    assert everything(bookworm) == before


def test_a_suites_entry_the_mirror_contradicts_is_refused(bookworm: Repo, mirror: Mirror) -> None:
    mirror.add("trixie", "13.8", {**TRIXIE, "postgresql": "18+280"})
    with pytest.raises(
        ConfigError, match=r"trixie.postgres says postgresql 17, but trixie on .* has postgresql 18\+280"
    ):
        plan_major(bookworm, load_versions(bookworm), "trixie", None)


def test_uncommitted_edits_of_a_file_it_changes_are_refused(bookworm: Repo) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=bookworm.root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=bookworm.root, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=bookworm.root, check=True)
    paths = major.files_it_changes(bookworm, None)
    require_clean(bookworm, paths)  # committed: accepted
    write(bookworm.libs / "lms-runtime" / "requirements.lock", "edited\n")
    with pytest.raises(
        ConfigError, match=r"^libs/lms-runtime/requirements.lock: uncommitted changes; commit them first"
    ):
        require_clean(bookworm, paths)


def test_the_command_refuses_with_one_line_and_exit_2(bookworm: Repo) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lmsops", "upgrade-major", "bookworm"], cwd=bookworm.root, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lmsops: error: the OS root is already on bookworm (base-images/versions.yaml os.suite); give another suite"
    ]


# --- put back, whatever phase fails ---------------------------------------------------------------------


class Phases:
    """Stand-ins for what the upgrade runs, each recorded; `fail` names the phase that fails and how."""

    def __init__(self, repo: Repo, fail: str, how: type[BaseException] = CommandError) -> None:
        self.repo, self.fail, self.how = repo, fail, how
        self.done: list[str] = []
        self.python3 = "3.13.5-1"

    def step(self, name: str) -> None:
        self.done.append(name)
        if name == self.fail:
            raise self.how(["fake", name], 1, f"{name} failed") if self.how is CommandError else self.how()

    def build(
        self, repo: Repo, docker: Docker, report: object, names: list[str] | None = None, mode: str = ""
    ) -> list[object]:
        self.step("baseline" if names is None else ("bases" if "python" in names else "services"))
        return []

    def bootstrap(self, *args: object) -> None:
        self.step("bootstrap")

    def compile_locks(self, repo: Repo, names: list[str], report: object) -> list[Path]:
        lock = repo.libs / "lms-runtime" / "requirements.lock"
        lock.write_text(lock.read_text().replace("pydantic==2.0", "pydantic==2.9"))
        write(repo.services / "catalog" / "requirements.lock", "fastapi==1.0 \\\n    --hash=sha256:" + "c" * 64 + "\n")
        self.step("lock")
        return [lock]

    def template_locks(self, repo: Repo, report: object) -> list[Path]:
        path = write(repo.root / "templates" / "service" / "includes" / "requirements.lock", "new template lock\n")
        self.step("template lock")
        return [path]

    def image_facts(self, docker: Docker, reference: str) -> ImageFacts:
        """Every image holds the packages a trixie base would (only the new bases are checked)."""
        packages = {"python3": self.python3, "postgresql": "17+278", "docker-registry": "2.8.3+ds1-2"}
        return ImageFacts(reference, "sha256:" + "0" * 64, 50_000_000, "", "", packages)

    def tests(self, *args: object) -> list[Run]:
        self.step("tests")
        return [Run("catalog unit tests", self.fail != "failing test", "3 passed, Python 3.13.5")]


@pytest.fixture
def template(bookworm: Repo) -> Path:
    return write(bookworm.root / "templates" / "service" / "includes" / "requirements.lock", "old template lock\n")


def run_upgrade(
    monkeypatch: pytest.MonkeyPatch, repo: Repo, phases: Phases
) -> MajorUpgradeError | BaseException | None:
    for name in ("build", "bootstrap", "compile_locks", "image_facts"):
        monkeypatch.setattr(major, name, getattr(phases, name))
    monkeypatch.setattr(major, "_tests", phases.tests)
    monkeypatch.setattr(major, "require_clean", lambda repo, paths: None)
    template_locks = LockSet(
        lambda repo: [repo.root / "templates/service/includes/requirements.lock"], phases.template_locks
    )
    try:
        upgrade_major(repo, FakeDocker(), reporter()[0], "trixie", extra_locks=template_locks)
    except BaseException as stopped:
        return stopped
    return None


@pytest.mark.parametrize(
    "phase", ["baseline", "lock", "template lock", "bootstrap", "bases", "services", "tests", "failing test"]
)
def test_a_failure_in_any_phase_puts_every_file_back(
    monkeypatch: pytest.MonkeyPatch, bookworm: Repo, template: Path, phase: str
) -> None:
    before = everything(bookworm)
    phases = Phases(bookworm, phase)

    stopped = run_upgrade(monkeypatch, bookworm, phases)

    assert isinstance(stopped, MajorUpgradeError), stopped
    assert "put back" in str(stopped)
    assert phases.done[-1] == ("tests" if phase == "failing test" else phase), "it stopped where it failed"
    assert everything(bookworm) == before, "versions.yaml, the locks and the template's are as they were"
    assert not (bookworm.services / "catalog" / "requirements.lock").exists(), "a lock it created is removed"


def test_a_base_built_with_another_version_than_suites_yaml_says_fails_and_puts_back(
    monkeypatch: pytest.MonkeyPatch, bookworm: Repo, template: Path
) -> None:
    before = everything(bookworm)
    phases = Phases(bookworm, fail="")
    phases.python3 = "3.12.1-1"
    stopped = run_upgrade(monkeypatch, bookworm, phases)
    assert isinstance(stopped, MajorUpgradeError)
    assert "python 3.13-1 was built with python3 3.12.1-1, not 3.13 as base-images/suites.yaml says" in str(stopped)
    assert "services" not in phases.done
    assert everything(bookworm) == before


def test_ctrl_c_in_the_middle_puts_every_file_back_and_says_so(
    monkeypatch: pytest.MonkeyPatch, bookworm: Repo, template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = everything(bookworm)
    stopped = run_upgrade(monkeypatch, bookworm, Phases(bookworm, "services", KeyboardInterrupt))
    assert isinstance(stopped, KeyboardInterrupt)
    assert everything(bookworm) == before
    assert "upgrade_major: interrupted; 4 files put back as they were" in capsys.readouterr().err


def test_a_passing_upgrade_keeps_the_files_and_reports_pins_phases_and_tests(
    monkeypatch: pytest.MonkeyPatch, bookworm: Repo, template: Path
) -> None:
    phases = Phases(bookworm, fail="")
    compared: list[str] = []

    def sbom_difference(_scanner: object, _before: object, after: ImageFacts) -> str:
        compared.append(after.reference)  # lmsops.images.upgrade.sbom_difference, tested in test_sbom_publish
        return f"compared {after.reference}"

    monkeypatch.setattr(major_report, "sbom_difference", sbom_difference)
    assert run_upgrade(monkeypatch, bookworm, phases) is None
    assert phases.done == ["baseline", "lock", "template lock", "bootstrap", "bases", "services", "tests"]
    versions = load_versions(bookworm)
    assert (versions.os.suite, python_minor(versions), postgres_major(versions)) == ("trixie", "3.13", "17")
    [report] = (bookworm.work / "reports").glob("major-trixie-*.md")
    text = report.read_text()
    assert "- Python: 3.11 -> 3.13" in text and "- PostgreSQL: 15 -> 17" in text
    assert "| libs/lms-runtime/requirements.lock | 1 | 1 | 0 | 0 | 0 | +0 / -0 |" in text  # pydantic 2.0 -> 2.9
    assert "| services/catalog/requirements.lock | 1 | 0 | 1 | 0 | 0 | +1 / -0 |" in text
    assert "- catalog unit tests: passed (3 passed, Python 3.13.5)" in text
    for phase in ("check", "baseline", "edit", "lock", "bootstrap", "bases", "services", "tests"):
        assert f"| {phase} | " in text
    assert text.rstrip().endswith("Every file keeps the upgrade.")
    assert compared, "every rebuilt image's SBOM difference is in the report"
    section = text.split("## SBOM differences", 1)[1].split("\n## ", 1)[0]
    assert [line.split(": ", 1)[1] for line in section.splitlines() if line.startswith("- ")] == [
        f"compared {reference}" for reference in compared
    ]


def test_the_snapshot_restores_bytes_and_removes_what_was_absent(tmp_path: Path) -> None:
    kept, created = write(tmp_path / "a.lock", "a\n"), tmp_path / "b.lock"
    snapshot = Snapshot([kept, created])
    kept.write_text("changed\n")
    created.write_text("new\n")
    assert snapshot.restore() == [kept, created]
    assert kept.read_text() == "a\n" and not created.exists()
    assert snapshot.restore() == []


def test_pin_changes_tell_moved_added_removed_and_remarked_packages_apart() -> None:
    """From the real trixie run: httpx2-jsfetch kept 1.0 but lost a python_full_version marker."""
    from lmsops.images.major_report import PinChanges, pin_changes

    h = ["--hash=sha256:" + c * 64 for c in "abcdef"]
    before = (
        f"fastapi==0.1 \\\n    {h[0]}\n"
        f"httpx2-jsfetch==1.0 ; python_full_version >= '3.12' and sys_platform == 'emscripten' \\\n"
        f"    {h[1]}\nold-thing==2.0 {h[2]}\n    # via fastapi==0.1 (a comment is not a pin)\n"
    )
    after = (
        f"fastapi==0.2 \\\n    {h[3]}\nhttpx2-jsfetch==1.0 ; sys_platform == 'emscripten' \\\n    {h[1]}\n"
        f"new_thing==1.0 {h[4]}\n"
    )
    assert pin_changes(before, after) == PinChanges(
        pins=3, moved=1, added=1, removed=1, remarked=1, hashes_added=2, hashes_removed=2
    )
    assert pin_changes(before, before) == PinChanges(3, 0, 0, 0, 0, 0, 0)


def test_another_mirror_is_checked_and_written_and_a_bad_one_refused(
    bookworm: Repo, mirror: Mirror, repo: Repo
) -> None:
    mirror.add("trixie", "13.9", TRIXIE)
    plan = plan_major(bookworm, load_versions(bookworm), "trixie", None, mirror.url + "/")
    assert (plan.release, plan.os_change.mirror) == ("13.9", mirror.url + "/")
    assert apply(bookworm, plan.changes, plan.os_change).os.mirror == mirror.url + "/"
    with pytest.raises(ConfigError, match=r"--mirror 'ftp://x': give the http\(s\) URL of a Debian mirror"):
        plan_major(bookworm, load_versions(bookworm), "sid", None, "ftp://x")
