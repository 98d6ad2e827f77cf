"""lmsops.core.gitinfo against real git in a scratch repository: the revision an image is labelled
with (keyed on its own inputs, '-dirty' with uncommitted changes), the history lookups, archive
extraction and the user's identity. The user's own git configuration is kept out of every test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lmsops.core import gitinfo
from lmsops.core.errors import CommandError


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No global or system git configuration; the returned file is the global one a test may fill."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return config


def sh_git(root: Path, *args: str, when: str = "2026-01-02T03:04:05Z") -> str:
    """git for setting a repository up (not the code under test); commits are made at `when`."""
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"]
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    done = subprocess.run(
        ["git", "-C", str(root), *identity, *args], check=True, capture_output=True, text=True, env=env
    )
    return done.stdout.strip()


def commit(root: Path, files: dict[str, str], message: str, when: str = "2026-01-02T03:04:05Z") -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    sh_git(root, "add", "--all")
    sh_git(root, "commit", "-q", "-m", message, when=when)
    return sh_git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    sh_git(root, "init", "-q", "-b", "main")
    return root


def test_source_info_is_the_last_commit_that_changed_the_images_own_inputs(repo: Path) -> None:
    catalog = commit(repo, {"services/catalog/app.py": "1", "services/gateway/app.py": "1"}, "both")
    gateway = commit(repo, {"services/gateway/app.py": "2"}, "gateway only")
    info = gitinfo.source_info(repo, [repo / "services" / "catalog"])
    assert (info.revision, info.source) == (catalog, repo.as_uri()), "no origin: the repository's own address"
    assert gitinfo.source_info(repo, [repo / "services" / "gateway"]).revision == gateway
    assert gitinfo.source_info(repo, []).revision == gateway, "no paths: the whole tree"


def test_uncommitted_changes_to_the_inputs_make_the_revision_dirty(repo: Path) -> None:
    head = commit(repo, {"services/catalog/app.py": "1", "services/gateway/app.py": "1"}, "first")
    (repo / "services" / "gateway" / "new.py").write_text("untracked counts too")
    assert gitinfo.source_info(repo, [repo / "services" / "gateway"]).revision == f"{head}-dirty"
    assert gitinfo.source_info(repo, [repo / "services" / "catalog"]).revision == head


def test_the_source_time_is_when_that_commit_was_made_and_none_for_a_dirty_tree(repo: Path) -> None:
    commit(repo, {"services/catalog/app.py": "1"}, "first", when="2026-01-02T03:04:05+02:00")
    commit(repo, {"services/gateway/app.py": "1"}, "later", when="2026-03-04T05:06:07Z")
    assert gitinfo.source_info(repo, [repo / "services" / "catalog"]).time == "2026-01-02T01:04:05Z", "in UTC"
    (repo / "services" / "catalog" / "app.py").write_text("edited")
    assert gitinfo.source_info(repo, [repo / "services" / "catalog"]).time == ""


def test_inputs_never_committed_are_uncommitted_not_dirty(repo: Path) -> None:
    commit(repo, {"README": "x"}, "first")
    (repo / "services" / "new").mkdir(parents=True)
    (repo / "services" / "new" / "app.py").write_text("new")
    assert gitinfo.source_info(repo, [repo / "services" / "new"]).revision == "uncommitted"


def test_the_source_is_the_origin_url_when_there_is_one(repo: Path) -> None:
    commit(repo, {"README": "x"}, "first")
    sh_git(repo, "remote", "add", "origin", "https://git.example.org/lms/lmsops.git")
    assert gitinfo.source_info(repo, []).source == "https://git.example.org/lms/lmsops.git"


def test_outside_a_git_repository_everything_is_uncommitted(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    info = gitinfo.source_info(folder, [])
    assert (info.revision, info.source, info.time) == ("uncommitted", folder.as_uri(), "")
    assert gitinfo.dirty_files(folder) == ["(not a git repository)"]


def test_dirty_files_are_modified_and_untracked_files_but_not_ignored_ones(repo: Path) -> None:
    commit(repo, {".gitignore": ".lmsops/\n", "env/dev.yaml": "a"}, "first")
    assert gitinfo.dirty_files(repo) == []
    (repo / "env" / "dev.yaml").write_text("b")
    (repo / "notes.txt").write_text("new")
    (repo / ".lmsops").mkdir()
    (repo / ".lmsops" / "scratch").write_text("ignored")
    assert sorted(gitinfo.dirty_files(repo)) == ["env/dev.yaml", "notes.txt"]


def test_git_fails_as_one_command_error_with_the_install_hint(repo: Path) -> None:
    with pytest.raises(CommandError) as failed:
        gitinfo.git(repo, "rev-parse", "--verify", "no-such-branch")
    assert failed.value.cmd == ["git", "-C", str(repo), "rev-parse", "--verify", "no-such-branch"]
    assert failed.value.hint.startswith("Install git")
    assert gitinfo.git(repo, "rev-parse", "--verify", "no-such-branch", check=False).returncode != 0


def test_extract_writes_the_files_of_a_tree_into_a_folder(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"services/catalog/app.py": "v1", "services/catalog/pkg/mod.py": "m"}, "first")
    (repo / "services" / "catalog" / "app.py").write_text("uncommitted edit")
    out = tmp_path / "out"
    out.mkdir()
    gitinfo.extract(repo, "HEAD:services/catalog", out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["app.py", "pkg/mod.py"]
    assert (out / "app.py").read_text() == "v1", "what is committed, not the working tree"


def test_extracting_a_tree_that_does_not_exist_names_it(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"README": "x"}, "first")
    with pytest.raises(CommandError) as failed:
        gitinfo.extract(repo, "HEAD:services/nope", tmp_path)
    assert failed.value.hint == "cannot read HEAD:services/nope"


def test_user_identity_is_the_configured_name_and_email_else_empty(isolated_git: Path) -> None:
    assert gitinfo.user_identity() == ("", "")
    isolated_git.write_text("[user]\n\tname = Ada Lovelace\n\temail = ada@example.org\n")
    assert gitinfo.user_identity() == ("Ada Lovelace", "ada@example.org")


def test_last_commit_is_the_last_change_of_a_path_at_or_before_a_revision(repo: Path) -> None:
    first = commit(repo, {"services/catalog/.copier-answers.yml": "1"}, "stamp")
    second = commit(repo, {"services/catalog/.copier-answers.yml": "2"}, "update")
    commit(repo, {"README": "x"}, "other")
    answers = "services/catalog/.copier-answers.yml"
    assert gitinfo.last_commit(repo, answers) == second
    assert gitinfo.last_commit(repo, answers, until=first) == first
    assert gitinfo.last_commit(repo, "services/never") is None


def test_first_commit_is_the_one_that_added_the_path(repo: Path) -> None:
    added = commit(repo, {"services/catalog/.copier-answers.yml": "1"}, "stamp")
    commit(repo, {"services/catalog/.copier-answers.yml": "2"}, "update")
    assert gitinfo.first_commit(repo, "services/catalog/.copier-answers.yml") == added
    assert gitinfo.first_commit(repo, "services/never") is None


def test_is_commit_accepts_commits_only(repo: Path) -> None:
    head = commit(repo, {"README": "x"}, "first")
    blob = sh_git(repo, "rev-parse", "HEAD:README")
    assert [gitinfo.is_commit(repo, ref) for ref in ("HEAD", head, head[:10], blob, "nope")] == [
        True, True, True, False, False,
    ]  # fmt: skip


def test_changed_paths_lists_uncommitted_files_under_a_path_untracked_ones_one_by_one(repo: Path) -> None:
    commit(repo, {"services/catalog/app.py": "1", "services/gateway/app.py": "1"}, "first")
    (repo / "services" / "catalog" / "app.py").write_text("2")
    (repo / "services" / "catalog" / "new").mkdir()
    (repo / "services" / "catalog" / "new" / "a.py").write_text("a")
    (repo / "services" / "gateway" / "app.py").write_text("2")
    assert sorted(gitinfo.changed_paths(repo, "services/catalog")) == [
        "services/catalog/app.py",
        "services/catalog/new/a.py",
    ]
