"""The baseline catalog (lmsops.bench.baseline): built from its own commit by that commit's own lmsops
in a temporary git worktree, which is removed after, also when the build fails; the image tags its
build added are the ones handed back for removal. git is real (a scratch repository); the commit's
lmsops and the engine are fakes."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmsops.bench.baseline import Baseline, build_baseline_catalog, require_baseline_commit
from lmsops.core import proc
from lmsops.core.errors import CommandError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from tests.unit.cli_fakes import EngineDocker

LISTING = (
    "IMAGE     KIND     BASE    REFERENCE                          SIZE\n"
    "python    base     os      lmsops/python:3.11-1-0ld0ld0ld0ld  106.6 MB\n"
    "catalog   service  python  lmsops/catalog:0.1.0-7c5424cff98a  139.0 MB\n"
)


class OldLmsops:
    """`python -m lmsops ...` of the baseline commit: its build adds the old catalog and its older base."""

    def __init__(self, docker: EngineDocker, fail: bool = False) -> None:
        self.docker, self.fail = docker, fail
        self.calls: list[dict[str, Any]] = []

    def __call__(self, argv: list[str], *, cwd: Path | None = None, **kwargs: Any) -> proc.Result:
        assert cwd is not None
        self.calls.append({"argv": argv[3:], "cwd": cwd, "prefix": argv[:3], "checked_out": sorted(
            str(p.relative_to(cwd)) for p in cwd.rglob("*") if ".git" not in p.parts), **kwargs})  # fmt: skip
        if argv[3] == "build":
            if self.fail:
                raise CommandError(argv, 1, "E: Unable to locate package nope")
            self.docker.add_image("lmsops/python:3.11-1-0ld0ld0ld0ld")
            self.docker.add_image("lmsops/catalog:0.1.0-7c5424cff98a")
            return proc.Result(argv, 0, "", "")
        return proc.Result(argv, 0, LISTING, "")


@pytest.fixture
def committed(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Repo, str]]:
    """The scratch repository as a git repository with one commit (the 'baseline')."""
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "bench")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "bench@localhost")
    for argv in (["init", "--quiet"], ["add", "."], ["commit", "--quiet", "-m", "baseline"]):
        proc.run(["git", "-C", str(repo.root), *argv])
    commit = proc.run(["git", "-C", str(repo.root), "rev-parse", "HEAD"]).stdout.strip()
    yield repo, commit


def with_old_lmsops(monkeypatch: pytest.MonkeyPatch, old: OldLmsops) -> None:
    """git runs for real; the baseline's own lmsops is the fake."""
    real_run = proc.run

    def run(argv: list[str], **kwargs: Any) -> proc.Result:
        return old(argv, **kwargs) if argv[0] == sys.executable else real_run(argv, **kwargs)

    monkeypatch.setattr(proc, "run", run)


def worktrees(root: Path) -> list[str]:
    listing = proc.run(["git", "-C", str(root), "worktree", "list", "--porcelain"]).stdout
    return [line for line in listing.splitlines() if line.startswith("worktree ")]


@pytest.fixture
def docker() -> EngineDocker:
    engine = EngineDocker()
    engine.add_image("lmsops/python:3.11-1-t0dayt0dayt0")  # today's: not the baseline's to remove
    engine.add_image("postgres:15")
    return engine


def test_the_commit_is_built_by_its_own_lmsops_in_a_worktree(
    committed: tuple[Repo, str], docker: EngineDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, commit = committed
    old = OldLmsops(docker)
    with_old_lmsops(monkeypatch, old)
    report = io.StringIO()
    build_baseline_catalog(repo, docker, Reporter(report), commit)
    build, listing = old.calls
    tree = build["cwd"]
    assert build["argv"] == ["build", "--offline", "catalog"] and listing["argv"] == ["images"]
    assert build["prefix"] == listing["prefix"] == [sys.executable, "-m", "lmsops"]
    assert build["env"] == listing["env"] == {"PYTHONPATH": str(tree / "src")}  # that commit's own tools
    assert build["timeout"] == 900 and listing["cwd"] == tree
    assert "base-images/versions.yaml" in build["checked_out"]  # the commit's files, checked out
    assert tree != repo.root
    assert f"building the catalog of {commit[:10]}" in report.getvalue()


def test_the_baseline_is_its_catalog_reference_and_the_tags_its_build_added(
    committed: tuple[Repo, str], docker: EngineDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, commit = committed
    with_old_lmsops(monkeypatch, OldLmsops(docker))
    baseline = build_baseline_catalog(repo, docker, Reporter(io.StringIO()), commit)
    assert baseline == Baseline(
        "lmsops/catalog:0.1.0-7c5424cff98a", ["lmsops/catalog:0.1.0-7c5424cff98a", "lmsops/python:3.11-1-0ld0ld0ld0ld"]
    )


def test_the_worktree_is_removed_after_the_build(
    committed: tuple[Repo, str], docker: EngineDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, commit = committed
    old = OldLmsops(docker)
    with_old_lmsops(monkeypatch, old)
    build_baseline_catalog(repo, docker, Reporter(io.StringIO()), commit)
    assert worktrees(repo.root) == [f"worktree {repo.root}"]
    assert not old.calls[0]["cwd"].exists()


def test_the_worktree_is_removed_when_the_build_fails(
    committed: tuple[Repo, str], docker: EngineDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, commit = committed
    old = OldLmsops(docker, fail=True)
    with_old_lmsops(monkeypatch, old)
    with pytest.raises(CommandError, match="Unable to locate package nope"):
        build_baseline_catalog(repo, docker, Reporter(io.StringIO()), commit)
    assert worktrees(repo.root) == [f"worktree {repo.root}"]
    assert len(old.calls) == 1  # no image list of a failed build


def test_a_clone_that_has_the_commit_may_bench(committed: tuple[Repo, str]) -> None:
    repo, commit = committed
    require_baseline_commit(repo, commit)  # no error
