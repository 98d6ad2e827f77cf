"""`nox -s upgrade_major -- SUITE [--digest sha256:...]`: a new Debian release in one step, with proof.

A sibling of upgrade_base, not one of its options: upgrade_base moves one base (or refreshes all) on
the same suite and touches versions.yaml only; a major upgrade moves the OS root to another suite,
and with it the interpreter of every Python image (so every lock) and PostgreSQL's major.

1. check before change: the suite is known (base-images/suites.yaml), the mirror has it (its Release
   names it) and its package index holds what each base would become; the files this changes have no
   uncommitted edits; every image is built as declared now (the baseline) and measured;
2. versions.yaml: the os entry moves to the suite (reference, version, suite; the digest is null
   unless given: no registry lookup is possible offline), every base gets its version on the suite;
3. every lock of libs/, services/ and the template is re-compiled for the new interpreter;
4. the OS root is bootstrapped, every base built and checked against suites.yaml, every service built;
5. every service's unit tests run inside the new build image (the new interpreter, the new locks),
   then dev's conformance on the new images;
6. a report (.lmsops/reports/major-SUITE-*.md): before/after suite, Python, PostgreSQL, image sizes,
   the locks and how many pins moved, each phase's duration, the test results.

Whatever stops it (a failed check of a built base, a build, a lock, a test, Ctrl-C, a bug), every file
it changed is put back byte for byte (files it created are removed), and it says so.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, LmsopsError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count, seconds
from lmsops.images.bootstrap import Mode, bootstrap
from lmsops.images.build import build
from lmsops.images.discovery import discover
from lmsops.images.facts import ImageFacts, image_facts
from lmsops.images.locks import compile_locks, lock_inputs
from lmsops.images.major_report import write_report
from lmsops.images.plan import plan_images
from lmsops.images.suites import BaseOnSuite, load_suites, matches, read_mirror
from lmsops.images.upgrade import TestRun, run_pytest
from lmsops.images.versions import OS_NAME, Versions, load_versions, postgres_major, python_minor
from lmsops.images.versions_edit import BaseChange, OsChange, apply, check, next_version
from lmsops.images.wheelhouse import DEV_LOCK, download_locked
from lmsops.supply.syft import Scanner

BUILD_BASE = "python-build"  # the image whose interpreter and pip run the services' unit tests


class MajorUpgradeError(LmsopsError):
    """The major upgrade failed; every file it changed is back as it was."""


@dataclass(frozen=True)
class LockSet:
    """Locks re-compiled beside those of libs/ and services/: the template's. lmsops.templates sits a
    layer above images, so the command hands them in: the files, and how to compile them."""

    paths: Callable[[Repo], list[Path]]
    compile: Callable[[Repo, Reporter], list[Path]]


@dataclass(frozen=True)
class MajorPlan:
    os_change: OsChange
    changes: list[BaseChange]
    release: str  # the suite's release number on the mirror, e.g. 13.8
    expected: dict[str, BaseOnSuite]  # what each built base must hold


@dataclass
class MajorResult:
    plan: MajorPlan
    old: Versions
    new: Versions | None = None
    phases: list[tuple[str, float]] = field(default_factory=list)
    locks: dict[Path, tuple[str, str]] = field(default_factory=dict)  # lock -> (text before, text after)
    before: dict[str, ImageFacts | None] = field(default_factory=dict)
    after: dict[str, ImageFacts | None] = field(default_factory=dict)
    references: dict[str, tuple[str, str]] = field(default_factory=dict)  # image -> (old, new reference)
    tests: list[TestRun] = field(default_factory=list)
    failure: str = ""
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failure and all(test.passed for test in self.tests)


def plan_major(repo: Repo, versions: Versions, suite: str, digest: str | None, mirror: str | None = None) -> MajorPlan:
    """What versions.yaml becomes on the suite, checked against suites.yaml and the mirror; nothing written."""
    if mirror is not None and not re.match(r"^https?://\S+$", mirror):
        raise ConfigError(
            f"--mirror {mirror!r}: give the http(s) URL of a Debian mirror, e.g. http://deb.debian.org/debian"
        )
    if suite == versions.os.suite:
        raise ConfigError(f"the OS root is already on {suite} (base-images/versions.yaml os.suite); give another suite")
    known = load_suites(repo).suites
    if suite not in known:
        raise ConfigError(
            f"base-images/suites.yaml has no suite {suite!r} (known: {', '.join(known)}); add what each base "
            "becomes there first"
        )
    on_suite = known[suite]
    missing = [name for name in versions.images if name not in on_suite]
    if missing:
        raise ConfigError(f"base-images/suites.yaml: {suite} does not say what {', '.join(missing)} becomes there")
    url = mirror or versions.os.mirror
    on_mirror = read_mirror(url, suite)
    for name, expected in on_suite.items():
        found = on_mirror.packages.get(expected.package)
        if found is None or not matches(expected.version, found):
            there = f"has {expected.package} {found}" if found else f"has no package {expected.package}"
            raise ConfigError(
                f"base-images/suites.yaml: {suite}.{name} says {expected.package} {expected.version}, but {suite} "
                f"on {url} {there}; correct suites.yaml"
            )
    repository = versions.os.reference.rsplit(":", 1)[0]
    os_change = OsChange(suite, f"{repository}:{suite}-slim", f"{on_mirror.major}-1", digest, mirror)
    changes = [
        BaseChange(name, _version_on(on_suite[name].version, versions.version_of(name))) for name in versions.images
    ]
    plan = MajorPlan(os_change, changes, on_mirror.release, {n: on_suite[n] for n in versions.images})
    check(repo, changes, os_change)  # the result must load (a digest of the wrong form: exit 2, nothing written)
    return plan


def _version_on(upstream: str, current: str) -> str:
    """'3.13-1' on the new suite; a base whose upstream version stays (registry 2.8-1 on bookworm and
    trixie) takes the next build number, so an image built on it names the new build, not the old one."""
    fresh = f"{upstream}-1"
    return next_version(current) if current.split("-", 1)[0] == upstream else fresh


def files_it_changes(repo: Repo, extra: LockSet | None) -> list[Path]:
    locks = [source.with_suffix(".lock") for source in lock_inputs(repo, [])]
    return [repo.versions_file, *locks, *(extra.paths(repo) if extra else [])]


def require_clean(repo: Repo, paths: list[Path]) -> None:
    """Put back means 'as committed': uncommitted edits of these files would be mixed into the upgrade."""
    relative = [repo.display(path) for path in paths]
    try:
        result = proc.run(["git", "status", "--porcelain", "--", *relative], cwd=repo.root, check=False)
    except FileNotFoundError as exc:
        raise PrerequisiteError("git is not installed; the upgrade checks the files it changes are committed") from exc
    if result.returncode != 0:
        raise PrerequisiteError(f"git status failed in {repo.root}: {result.stderr.strip()[:200]}")
    dirty = [line[3:] for line in result.stdout.splitlines() if line.strip()]
    if dirty:
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        raise ConfigError(f"{dirty[0]}{more}: uncommitted changes; commit them first (the upgrade edits these files)")


class Snapshot:
    """Files as they were before the upgrade (None: absent), to put back byte for byte."""

    def __init__(self, paths: list[Path]) -> None:
        self.saved = {path: path.read_bytes() if path.is_file() else None for path in paths}

    def changed(self) -> list[Path]:
        return [path for path, content in self.saved.items() if _content(path) != content]

    def restore(self) -> list[Path]:
        restored = self.changed()
        for path in restored:
            content = self.saved[path]
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        return restored


def _content(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def upgrade_major(
    repo: Repo,
    docker: Docker,
    report: Reporter,
    suite: str,
    digest: str | None = None,
    run_tests: bool = True,
    mode: Mode = "auto",
    extra_locks: LockSet | None = None,
    mirror: str | None = None,
) -> MajorResult:
    started = time.monotonic()
    versions = load_versions(repo)
    with report.step(f"check: {versions.os.suite} -> {suite}, the mirror, the files it changes"):
        plan = plan_major(repo, versions, suite, digest, mirror)
        paths = files_it_changes(repo, extra_locks)
        require_clean(repo, paths)
    result = MajorResult(plan, versions)
    result.phases.append(("check", time.monotonic() - started))
    snapshot = Snapshot(paths)
    try:
        _upgrade(repo, docker, report, result, snapshot, run_tests, mode, extra_locks)
    except BaseException as stopped:
        # Whatever stops it, every file is put back; lmsops's own errors say so in their message.
        restored = snapshot.restore()
        if not isinstance(stopped, LmsopsError):
            what = "interrupted" if isinstance(stopped, KeyboardInterrupt) else f"stopped ({type(stopped).__name__})"
            print(
                f"upgrade_major: {what}; {count(len(restored), 'file')} put back as they were",
                file=sys.stderr,
                flush=True,
            )
            raise
        if isinstance(stopped, MajorUpgradeError):
            raise
        raise MajorUpgradeError(
            f"major upgrade failed; {count(len(restored), 'file')} put back as they were: {stopped}"
        ) from stopped
    report.say(f"upgrade_major: report in {repo.display(result.report or repo.work)} ({seconds(started)})")
    return result


@contextmanager
def _phase(report: Reporter, result: MajorResult, name: str, what: str) -> Iterator[None]:
    started = time.monotonic()
    with report.step(what):
        yield
    result.phases.append((name, time.monotonic() - started))
    report.say(f"<== {name}: {seconds(started)}")


def _upgrade(
    repo: Repo,
    docker: Docker,
    report: Reporter,
    result: MajorResult,
    snapshot: Snapshot,
    run_tests: bool,
    mode: Mode,
    extra_locks: LockSet | None,
) -> None:
    old, plan = result.old, result.plan
    with _phase(report, result, "baseline", "baseline: every image as declared now, measured"):
        build(repo, docker, report, mode=mode)  # nothing to do when they are up to date
        old_plan = {image.name: image.reference for image in plan_images(repo, old)}
        result.before = {name: image_facts(docker, reference) for name, reference in old_plan.items()}
        result.before[OS_NAME] = image_facts(docker, old.os.reference)
    try:
        _change(repo, docker, report, result, snapshot, old_plan, run_tests, mode, extra_locks)
    except LmsopsError as exc:
        result.failure = _reason(exc)
        result.report = write_report(repo, result, kept=False)
        raise MajorUpgradeError(
            f"major upgrade failed: {result.failure}; every file put back. Details: {repo.display(result.report)}"
        ) from exc
    # Scanning every image before and after takes about two minutes here: said while it runs.
    with report.step(f"report: the SBOMs of {len(result.references)} images before and after (syft), compared"):
        result.report = write_report(repo, result, kept=result.ok, scanner=Scanner(docker, repo.work / "sbom"))
    if not result.ok:
        failed = ", ".join(test.name for test in result.tests if not test.passed)
        raise MajorUpgradeError(
            f"tests failed on {plan.os_change.suite} ({failed}); every file put back. "
            f"Details: {repo.display(result.report)}"
        )


def _change(
    repo: Repo,
    docker: Docker,
    report: Reporter,
    result: MajorResult,
    snapshot: Snapshot,
    old_plan: dict[str, str],
    run_tests: bool,
    mode: Mode,
    extra_locks: LockSet | None,
) -> None:
    """versions.yaml, the locks, every image, the tests; an LmsopsError of any step propagates."""
    old, plan = result.old, result.plan
    with _phase(report, result, "edit", f"base-images/versions.yaml: os {old.os.suite} -> {plan.os_change.suite}"):
        new = apply(repo, plan.changes, plan.os_change)
        result.new = new
        python, postgres = (
            f"{python_minor(old)} -> {python_minor(new)}",
            f"{postgres_major(old)} -> {postgres_major(new)}",
        )
        report.say(f"    python {python}, postgres {postgres}")
    with _phase(report, result, "lock", f"re-lock every requirement for CPython {python_minor(new)}"):
        compile_locks(repo, [], report)
        if extra_locks is not None:
            extra_locks.compile(repo, report)
        for path in snapshot.saved:
            if path != repo.versions_file:
                before = snapshot.saved[path]
                result.locks[path] = (before.decode() if before else "", path.read_text(encoding="utf-8"))
    new_plan = {image.name: image.reference for image in plan_images(repo, new)}
    result.references = {name: (old_plan.get(name, "-"), reference) for name, reference in new_plan.items()}
    result.references[OS_NAME] = (old.os.reference, new.os.reference)
    bases = list(new.images)
    services = [spec.name for spec in discover(repo, new) if spec.kind == "service"]
    with _phase(report, result, "bootstrap", f"the OS root {new.os.reference} from Debian {plan.os_change.suite}"):
        bootstrap(repo, docker, new, mode, report)
    with _phase(report, result, "bases", f"build every base: {', '.join(bases)}"):
        build(repo, docker, report, names=bases, mode=mode)
        for name in bases:
            result.after[name] = image_facts(docker, new_plan[name])
        result.after[OS_NAME] = image_facts(docker, new.os.reference)
        _check_bases(result, new)
    with _phase(report, result, "services", f"build every service: {', '.join(services)}"):
        build(repo, docker, report, names=services, mode=mode)
        for name in services:
            result.after[name] = image_facts(docker, new_plan[name])
    if run_tests:
        with _phase(report, result, "tests", "unit tests on the new interpreter, conformance of dev"):
            result.tests = _tests(repo, docker, new, new_plan, services, report)


def _reason(exc: LmsopsError) -> str:
    """One line: what failed, and the last line of its output (a build's 'failed:' alone says nothing)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) < 2:
        return lines[0] if lines else type(exc).__name__
    return f"{lines[0].rstrip(':')}: {lines[-1][:300]}"


def _check_bases(result: MajorResult, new: Versions) -> None:
    """Each built base holds the package version suites.yaml promised (the mirror said so; this is the proof)."""
    for name, expected in result.plan.expected.items():
        facts = result.after.get(name)
        found = facts.debian.get(expected.package) if facts else None
        if found is None or not matches(expected.version, found):
            raise MajorUpgradeError(
                f"{name} {new.version_of(name)} was built with {expected.package} {found or '(none)'}, not "
                f"{expected.version} as base-images/suites.yaml says"
            )


def _tests(
    repo: Repo, docker: Docker, versions: Versions, plan: dict[str, str], services: list[str], report: Reporter
) -> list[TestRun]:
    """Every service's unit tests run in the new build image: its interpreter, its locked dev wheels
    (downloaded on the host for that interpreter), lms-runtime from libs/, no network. Then dev's
    conformance on the new images (upgrade_base's run)."""
    runs: list[TestRun] = []
    python = python_minor(versions)
    for name in services:
        folder = repo.services / name
        if not (folder / DEV_LOCK).is_file():
            continue
        wheels = download_locked(repo, folder / DEV_LOCK, repo.work / "wheelhouse-dev" / name, report, python)
        runs.append(_unit_tests(repo, docker, plan[BUILD_BASE], folder, wheels, report))
    conformance = [sys.executable, "-m", "pytest", "tests/conformance", "--env", "dev"]
    runs.append(run_pytest(repo, "conformance of dev", conformance, repo.root, report))
    return runs


def _unit_tests(repo: Repo, docker: Docker, image: str, folder: Path, wheels: Path, report: Reporter) -> TestRun:
    started = time.monotonic()
    script = (
        "lms-install-locked /service/requirements-dev.lock /wheels >/dev/null"
        " && python3 --version && /opt/venv/bin/python -m pytest -q -p no:cacheprovider"
    )
    result = docker.run_once(
        image,
        entrypoint="sh",
        args=["-c", script],
        network="none",
        env={"PYTHONPATH": "/lms-runtime"},
        options=[
            "--volume", f"{folder}:/service:ro", "--volume", f"{wheels}:/wheels:ro",
            "--volume", f"{repo.libs / 'lms-runtime' / 'src'}:/lms-runtime:ro", "--workdir", "/service",
        ],
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    interpreter = lines[0] if lines and lines[0].startswith("Python ") else "Python ?"
    summary = (lines[-1].strip("= ") if lines else result.stderr.strip()[-200:]) + f", {interpreter}"
    passed = result.returncode == 0
    name = f"{folder.name} unit tests"
    report.say(f"    {name}: {'passed' if passed else 'FAILED'} ({summary}) in {seconds(started)}")
    return TestRun(name, passed, summary)
