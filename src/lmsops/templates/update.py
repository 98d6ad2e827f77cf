"""`nox -s update_services`: bring every stamped service to the template's current version.

Copier updates only from a template that is the root of a git repository; ours lives in
templates/service of the monorepo, so copier records no commit and cannot update
(copier-org/copier#2300, #2371). lmsops fills the gap:

- each service's answers file records `_commit`, the monorepo commit of the template it was last
  stamped or updated from (for a service stamped by a plain `copier copy`, the template as it was
  in the commit that added the service);
- the template's versions involved are materialised into a scratch git repository, one commit
  each, tagged 1, 2, ... in history order;
- copier's own 3-way merge (`copier update`) runs on a scratch repository holding only the service
  (copier refuses its patch whole when the service is a subfolder of a larger repository), and the
  result is copied back;
- the real answers file then records the new monorepo commit and `_src_path: templates/service`.

Local edits are kept; conflicts are left in the files (inline markers, or .rej files) and listed.
A service with uncommitted changes is skipped (copier's merge needs a clean base); one whose update
fails is left untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from lmsops.core.yamlfile import dump_yaml, parse_yaml
from lmsops.core import proc
from lmsops.core.errors import CommandError, ConfigError
from lmsops.core.gitinfo import changed_paths, extract, first_commit, git, is_commit, last_commit
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, seconds
from lmsops.templates.stamp import ANSWERS, TEMPLATE, copier_binary, stamped_services, template_dir

Conflict = Literal["inline", "rej"]
_MARKER = b"<<<<<<< before updating"
# copier commits in its scratch repositories; a machine without a git identity must still work.
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "lmsops",
    "GIT_AUTHOR_EMAIL": "lmsops@localhost",
    "GIT_COMMITTER_NAME": "lmsops",
    "GIT_COMMITTER_EMAIL": "lmsops@localhost",
}


@dataclass
class ServiceUpdate:
    service: str
    outcome: Literal["updated", "up to date", "conflicts", "skipped", "failed"]
    old: str = ""
    new: str = ""
    changed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("updated", "up to date")


def update_services(
    repo: Repo, names: list[str], report: Reporter, conflict: Conflict = "inline"
) -> list[ServiceUpdate]:
    template_dir(repo)
    template = str(TEMPLATE)
    if changed_paths(repo.root, template):
        raise ConfigError(
            f"{template} has uncommitted changes; commit them first (each service records the template "
            "commit it was updated to)"
        )
    new = last_commit(repo.root, template)
    if new is None:
        raise ConfigError(f"{template} is not committed yet; commit it first")
    services = _selected(repo, names)
    olds = {service: _stamped_from(repo, service) for service in services}
    versions = sorted({*[old for old in olds.values() if old], new}, key=lambda c: _depth(repo, c))
    results = []
    with tempfile.TemporaryDirectory(prefix="lmsops-template-") as scratch:
        tags = _materialise(repo, versions, Path(scratch) / "template")
        for service in services:
            started = time.monotonic()
            with report.step(f"update services/{service}"):
                result = _update_one(repo, service, olds[service], new, tags, Path(scratch) / "template", conflict)
            results.append(result)
            _report(report, result, seconds(started))
    return results


def _selected(repo: Repo, names: list[str]) -> list[str]:
    stamped = stamped_services(repo)
    unknown = [name for name in names if name not in stamped]
    if unknown:
        raise ConfigError(
            f"services/{unknown[0]} was not stamped from {TEMPLATE} (no {ANSWERS}); "
            f"stamped services: {', '.join(stamped) or 'none'}"
        )
    return names or stamped


def _stamped_from(repo: Repo, service: str) -> str | None:
    """The monorepo commit of the template the service was last stamped or updated from."""
    answers = _read_answers(repo.services / service / ANSWERS)
    recorded = str(answers.get("_commit") or "")
    if recorded and is_commit(repo.root, recorded):
        return git(repo.root, "rev-parse", f"{recorded}^{{commit}}").stdout.strip()
    added = first_commit(repo.root, f"services/{service}/{ANSWERS}")
    return last_commit(repo.root, str(TEMPLATE), until=added) if added else None


def _depth(repo: Repo, commit: str) -> int:
    return int(git(repo.root, "rev-list", "--count", commit).stdout.strip())


def _materialise(repo: Repo, commits: list[str], folder: Path) -> dict[str, str]:
    """A git repository whose root is the template, one tagged commit per version, oldest first."""
    folder.mkdir(parents=True)
    git(folder, "init", "--quiet")
    tags: dict[str, str] = {}
    for number, commit in enumerate(commits, start=1):
        for entry in folder.iterdir():
            if entry.name != ".git":
                git(folder, "rm", "-r", "--quiet", "--cached", "--ignore-unmatch", entry.name)
                _remove(entry)
        extract(repo.root, f"{commit}:{TEMPLATE}", folder)
        git(folder, "add", "--all")
        git(folder, "commit", "--quiet", "--allow-empty", "--no-gpg-sign", "-m", commit, env=_GIT_IDENTITY)
        git(folder, "tag", str(number))
        tags[commit] = str(number)
    return tags


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove(child)
        path.rmdir()
    else:
        path.unlink()


def _update_one(
    repo: Repo, service: str, old: str | None, new: str, tags: dict[str, str], source: Path, conflict: Conflict
) -> ServiceUpdate:
    relative = f"services/{service}"
    if old is None:
        note = f"commit {relative} first: its template version is read from git"
        return ServiceUpdate(service, "skipped", note=note)
    result = ServiceUpdate(service, "updated", old=old[:12], new=new[:12])
    if _template_tree(repo, old) == _template_tree(repo, new):
        result.outcome = "up to date"
        return result
    if changed_paths(repo.root, relative):
        result.outcome = "skipped"
        result.note = f"uncommitted changes in {relative}; commit or stash them, then run again"
        return result
    with tempfile.TemporaryDirectory(prefix="lmsops-update-") as scratch:
        isolated = Path(scratch) / service
        _isolate(repo, relative, isolated, source, tags[old])
        argv = [copier_binary(), "update", "--defaults", "--skip-tasks", "--conflict", conflict, "--vcs-ref", tags[new]]
        try:
            proc.run([*argv, "."], cwd=isolated, env={k: os.environ.get(k, v) for k, v in _GIT_IDENTITY.items()})
        except CommandError as exc:
            result.outcome = "failed"
            result.note = f"copier update failed; {relative} is unchanged: {_last_line(exc.output)}"
            return result
        updated = _read_answers(isolated / ANSWERS)
        _write_answers(isolated / ANSWERS, {**updated, "_src_path": str(TEMPLATE), "_commit": new})
        _copy_back(repo, relative, isolated)
    result.changed = [path.removeprefix(relative + "/") for path in changed_paths(repo.root, relative)]
    result.conflicts = _conflicted(repo.services / service, conflict)
    if result.conflicts:
        result.outcome = "conflicts"
    return result


def _isolate(repo: Repo, relative: str, isolated: Path, source: Path, old_tag: str) -> None:
    """The service's committed files as the root of a repository of their own, answers pointing at
    the materialised template. Copier's merge works on a subproject at a repository root: in a
    subfolder of a larger repository its patch also carries every other file and is refused whole."""
    isolated.mkdir()
    extract(repo.root, f"HEAD:{relative}", isolated)
    answers = _read_answers(isolated / ANSWERS)
    _write_answers(isolated / ANSWERS, {**answers, "_src_path": str(source), "_commit": old_tag})
    git(isolated, "init", "--quiet")
    git(isolated, "add", "--all")
    git(isolated, "commit", "--quiet", "--no-gpg-sign", "-m", "service", env=_GIT_IDENTITY)


def _copy_back(repo: Repo, relative: str, isolated: Path) -> None:
    """Mirror the updated files into services/<name>: tracked files the update removed go too;
    ignored files there (caches, .lmsops/) are left alone."""
    target = repo.root / relative
    updated = {
        path.relative_to(isolated)
        for path in isolated.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(isolated).parts
    }
    for name in git(repo.root, "ls-files", "-z", "--", relative).stdout.split("\0"):
        if name and Path(name).relative_to(relative) not in updated:
            (repo.root / name).unlink(missing_ok=True)
    for inner in sorted(updated):
        (target / inner).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(isolated / inner, target / inner)


def _template_tree(repo: Repo, commit: str) -> str:
    return git(repo.root, "rev-parse", f"{commit}:{TEMPLATE}").stdout.strip()


def _conflicted(folder: Path, conflict: Conflict) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or ".lmsops" in path.relative_to(folder).parts:  # lmsops's work files below
            continue
        if conflict == "rej":
            conflicted = path.suffix == ".rej"
        else:
            conflicted = any(line.rstrip() == _MARKER for line in path.read_bytes().splitlines())
        if conflicted:
            found.append(str(path.relative_to(folder)))
    return found


def _read_answers(path: Path) -> dict[str, object]:
    try:
        data = parse_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the copier answers ({exc}); restore it from git") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the copier answers must be a mapping; restore it from git")
    return data


def _write_answers(path: Path, answers: dict[str, object]) -> None:
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    path.write_text(header + dump_yaml(answers, allow_unicode=True))


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _report(report: Reporter, result: ServiceUpdate, took: str) -> None:
    versions = f" ({result.old} -> {result.new})" if result.old and result.old != result.new else ""
    report.say(f"    {result.service}: {result.outcome}{versions} in {took}")
    if result.changed:
        report.say(f"      changed: {', '.join(result.changed)}")
    if result.conflicts:
        report.say(f"      CONFLICTS (resolve, then commit): {', '.join(result.conflicts)}")
    if result.note:
        report.say(f"      {result.note}")
