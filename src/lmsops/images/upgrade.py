"""`nox -s upgrade_base -- IMAGE VERSION [--package NAME...]` (or `-- --all`): one step, with proof.

1. everything is built as declared now (the baseline) and what each image holds is recorded;
2. base-images/versions.yaml gets the new version (and extra Debian packages); `--all` raises the
   build number of the OS root and of every base, so each is rebuilt from today's Debian packages;
3. the images whose identity changed are rebuilt: the base and everything built on it (the graph
   comes from the Dockerfiles), nothing else;
4. the unit tests of every affected service and the conformance suite of
   dev run against the new images;
5. a report lists, per rebuilt image, old and new base digest and size, Debian and Python package
   changes, the difference of their SBOMs (syft's view: every package it catalogues, lmsops.supply),
   and the test results (.lmsops/reports/).

When a build or a test fails, versions.yaml is put back as it was and the failure is named; when the
upgrade is interrupted (Ctrl-C) or stops on anything else, versions.yaml is put back too, and it says so.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, LmsopsError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count, megabytes, seconds
from lmsops.images.bootstrap import Mode
from lmsops.images.build import build
from lmsops.images.discovery import discover
from lmsops.images.facts import ImageFacts, image_facts, package_changes
from lmsops.images.plan import plan_images
from lmsops.images.versions import OS_NAME, Versions, load_versions
from lmsops.images.versions_edit import BaseChange, apply, check, next_version
from lmsops.supply.diff import sbom_diff
from lmsops.supply.syft import Scanner, repository_of


class UpgradeError(LmsopsError):
    """The upgrade failed; versions.yaml is unchanged."""


@dataclass
class TestRun:
    name: str
    passed: bool
    summary: str


@dataclass
class UpgradeResult:
    changes: list[BaseChange]
    rebuilt: list[str]
    before: dict[str, ImageFacts | None]
    after: dict[str, ImageFacts | None]
    tests: list[TestRun] = field(default_factory=list)
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return all(test.passed for test in self.tests)

    def line(self, name: str) -> str:
        """'old -> new base digest | old -> new size' (the OS root has no base: its own id)."""
        before, after = self.before.get(name), self.after.get(name)
        digest = _own_id if name == OS_NAME else _digest
        return f"{digest(before)} -> {digest(after)} | {_size(before)} -> {_size(after)}"


def plan_changes(
    versions: Versions, image: str | None, version: str | None, packages: list[str] | None
) -> list[BaseChange]:
    """What to write into versions.yaml: one base, or (image None) a refresh of every base."""
    if image is None:
        return [BaseChange(name, next_version(versions.version_of(name))) for name in versions.names()]
    if image not in versions.names():
        known = ", ".join(versions.names())
        raise ConfigError(f"{image!r} is not a base image of base-images/versions.yaml; known: {known}")
    if not version:
        example = next_version(versions.version_of(image))
        raise ConfigError(f"give the new version of {image}, e.g. `nox -s upgrade_base -- {image} {example}`")
    if image == OS_NAME and packages:
        raise ConfigError("the OS root takes no extra packages; add them to a base image that builds on it")
    current = versions.images[image].packages if image != OS_NAME else []
    if version == versions.version_of(image) and (packages is None or packages == current):
        raise ConfigError(f"{image} is already at {version}; give a new version")
    merged = None if packages is None else [*current, *[p for p in packages if p not in current]]
    return [BaseChange(image, version, merged)]


def upgrade_base(
    repo: Repo,
    docker: Docker,
    report: Reporter,
    image: str | None,
    version: str | None,
    packages: list[str] | None = None,
    run_tests: bool = True,
    mode: Mode = "auto",
) -> UpgradeResult:
    started = time.monotonic()
    versions = load_versions(repo)
    changes = plan_changes(versions, image, version, packages)
    check(repo, changes)  # a bad version or package: refused (exit 2) before the first build
    with report.step("baseline: every image as declared now"):
        build(repo, docker, report, mode=mode)
    original = repo.versions_file.read_text(encoding="utf-8")
    try:
        result, new_versions = _rebuild_and_test(repo, docker, report, versions, changes, run_tests, mode)
        result.report = _write_report(repo, result, versions, new_versions, Scanner(docker, repo.work / "sbom"))
        for name in result.rebuilt:
            before, after = result.before.get(name), result.after.get(name)
            debian = package_changes(before.debian if before else {}, after.debian if after else {})
            report.say(f"    {name}: base {result.line(name).replace(' | ', ', size ')}; Debian: {debian.summary()}")
        report.say(f"upgrade_base: report in {repo.display(result.report)} ({seconds(started)})")
        if not result.ok:
            failed = ", ".join(test.name for test in result.tests if not test.passed)
            raise UpgradeError(
                f"tests failed on the new base ({failed}); base-images/versions.yaml left unchanged. "
                f"Details: {repo.display(result.report)}"
            )
        return result
    except BaseException as stopped:
        # Whatever stops the upgrade before it is done (a failed build or test, Ctrl-C, a bug), versions.yaml
        # is put back byte for byte; lmsops's own errors say so in their message, anything else here.
        repo.versions_file.write_text(original, encoding="utf-8")
        if not isinstance(stopped, LmsopsError):
            what = "interrupted" if isinstance(stopped, KeyboardInterrupt) else f"stopped ({type(stopped).__name__})"
            print(f"upgrade_base: {what}; base-images/versions.yaml put back as it was", file=sys.stderr, flush=True)
        raise


def _rebuild_and_test(
    repo: Repo,
    docker: Docker,
    report: Reporter,
    versions: Versions,
    changes: list[BaseChange],
    run_tests: bool,
    mode: Mode,
) -> tuple[UpgradeResult, Versions]:
    """versions.yaml changed, what it changes rebuilt and tested; a build's or a test's error as an
    UpgradeError (the caller puts versions.yaml back)."""
    old_plan = {planned.name: planned.reference for planned in plan_images(repo, versions)}
    old_os = docker.image_id(versions.os.reference)
    try:
        new_versions = apply(repo, changes)
        for change in changes:
            report.say(
                f"    base-images/versions.yaml: {change.name} {versions.version_of(change.name)} -> {change.version}"
            )
        new_plan = {planned.name: planned.reference for planned in plan_images(repo, new_versions)}
        rebuilt = [name for name, reference in new_plan.items() if old_plan.get(name) != reference]
        result = UpgradeResult(changes, rebuilt, {}, {})
        result.before = {name: image_facts(docker, old_plan[name]) for name in rebuilt if name in old_plan}
        if any(change.name == OS_NAME for change in changes):
            result.before[OS_NAME] = image_facts(docker, old_os) if old_os else None
        with report.step(f"rebuild {count(len(rebuilt), 'image')} on the new base: {', '.join(rebuilt)}"):
            build(repo, docker, report, names=rebuilt, mode=mode)
        result.after = {name: image_facts(docker, new_plan[name]) for name in rebuilt}
        if OS_NAME in result.before:
            result.after[OS_NAME] = image_facts(docker, new_versions.os.reference)
        if run_tests:
            result.tests = _tests(repo, new_versions, rebuilt, report)
    except LmsopsError as exc:
        # apt's own complaint ("E: Unable to locate package ...") says it best; the build tail follows.
        apt = re.search(r"(?:^|\s)(E: [^\r\n\x1b]+)", str(exc))
        reason = f" ({apt.group(1).strip()})" if apt else ""
        raise UpgradeError(f"upgrade failed{reason}, base-images/versions.yaml left unchanged: {exc}") from exc
    return result, new_versions


def _tests(repo: Repo, versions: Versions, rebuilt: list[str], report: Reporter) -> list[TestRun]:
    """What a new base can break: the unit tests of every rebuilt service, then dev's conformance on the
    new images. (Not the engine's unit tests: the engine runs on the host, and they never start an image.)"""
    runs: list[TestRun] = []
    services = {spec.name: spec for spec in discover(repo, versions) if spec.kind == "service"}
    for name in rebuilt:
        folder = repo.services / name
        if name in services and (folder / "requirements-dev.lock").is_file():
            python = _service_venv(repo, folder)
            env = {"PYTHONPATH": str(repo.libs / "lms-runtime" / "src")}
            runs.append(run_pytest(repo, f"{name} unit tests", [python, "-m", "pytest"], folder, report, env))
    conformance = [sys.executable, "-m", "pytest", "tests/conformance", "--env", "dev"]
    runs.append(run_pytest(repo, "conformance of dev", conformance, repo.root, report))
    return runs


def run_pytest(
    repo: Repo, name: str, argv: list[str], cwd: Path, report: Reporter, env: dict[str, str] | None = None
) -> TestRun:
    started = time.monotonic()
    result = proc.run([*argv, "-q", "-p", "no:cacheprovider"], cwd=cwd, env=env, check=False)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else result.stderr.strip()[-200:]
    passed = result.returncode == 0
    report.say(f"    {name}: {'passed' if passed else 'FAILED'} ({summary}) in {seconds(started)}")
    return TestRun(name, passed, summary)


def _service_venv(repo: Repo, folder: Path) -> str:
    """A virtualenv with the service's hash-locked dev requirements (uv, kept under .lmsops/venvs)."""
    uv = proc.tool("uv")
    if uv is None:
        raise ConfigError("uv is not installed here; run `nox -s upgrade_base`, which installs it")
    venv = repo.work / "venvs" / folder.name
    python = venv / "bin" / "python"
    if not python.exists():
        proc.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    proc.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "--require-hashes", "-r",
         str(folder / "requirements-dev.lock")],
        env={"VIRTUAL_ENV": str(venv), "PATH": os.environ.get("PATH", "")},
        hint=f"cannot install the dev requirements of {folder.name}",
    )  # fmt: skip
    return str(python)


def _write_report(repo: Repo, result: UpgradeResult, old: Versions, new: Versions, scanner: Scanner) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    what = "-".join(change.name for change in result.changes) if len(result.changes) < 3 else "all"
    path = repo.work / "reports" / f"upgrade-{what}-{stamp}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# Base image upgrade ({stamp})", ""]
    for change in result.changes:
        extra = f", packages {change.packages}" if change.packages is not None else ""
        lines.append(f"- `{change.name}`: {old.version_of(change.name)} -> {new.version_of(change.name)}{extra}")
    lines += ["", f"Rebuilt (the changed bases and everything built on them): {', '.join(result.rebuilt)}.", ""]
    lines += ["| image | base digest (old -> new) | size (old -> new) |", "|---|---|---|"]
    for name in [OS_NAME, *result.rebuilt] if OS_NAME in result.after else result.rebuilt:
        lines.append(f"| {name} | {result.line(name)} |")
    for name in result.rebuilt:
        before, after = result.before.get(name), result.after.get(name)
        if after is None:
            continue
        lines += ["", f"## {name}", "", f"- image: `{before.reference if before else '(none)'}` -> `{after.reference}`"]
        lines.append(f"- Debian packages: {package_changes(before.debian if before else {}, after.debian).summary()}")
        lines.append(f"- Python packages: {package_changes(before.python if before else {}, after.python).summary()}")
        lines.append(f"- SBOM: {sbom_difference(scanner, before, after)}")
    lines += ["", "## Tests", ""]
    lines += [f"- {test.name}: {'passed' if test.passed else 'FAILED'} ({test.summary})" for test in result.tests]
    if not result.tests:
        lines.append("- not run (--no-tests)")
    lines += ["", "versions.yaml " + ("keeps the new versions." if result.ok else "was put back: the upgrade failed.")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sbom_difference(scanner: Scanner, before: ImageFacts | None, after: ImageFacts) -> str:
    """The SBOMs of the image before and after, compared (by image ID: the old image is still here). An
    SBOM that cannot be made is said in the report, never a failed upgrade: the images are built and tested."""
    name = repository_of(after.reference)  # the OS root's old image is known by its ID alone
    try:
        old = scanner.scan(before.image_id, name).sbom.components if before else ()
        new = scanner.scan(after.image_id, name).sbom.components
    except LmsopsError as exc:
        return f"not compared ({str(exc).splitlines()[0]})"
    difference = sbom_diff(old, new)
    return f"{difference.counts()}: {difference.summary()}" if difference else "no package changed"


def _own_id(facts: ImageFacts | None) -> str:
    return facts.image_id.removeprefix("sha256:")[:12] if facts else "-"


def _digest(facts: ImageFacts | None) -> str:
    return facts.base_digest.removeprefix("sha256:")[:12] if facts and facts.base_digest else "-"


def _size(facts: ImageFacts | None) -> str:
    return megabytes(facts.size) if facts else "-"
