"""Planning an upgrade without Docker: editing versions.yaml in place, which images a change
affects (--changed-since, with real git in a scratch repository), the upgrade's requests."""

from __future__ import annotations

import os
import subprocess

import pytest

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.images.affected import affected_images
from lmsops.images.upgrade import plan_changes
from lmsops.images.versions import load_versions
from lmsops.images.versions_edit import BaseChange, apply, check, next_version
from tests.unit.conftest import write

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


def git(repo: Repo, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo.root, check=True, capture_output=True, env={**os.environ, **GIT_IDENTITY})


@pytest.fixture
def tracked(repo: Repo) -> Repo:
    """The minimal repository with two services (one on python, one on the OS root), committed."""
    for name, base in (("catalog", "PYTHON"), ("gateway", "OS")):
        dockerfile = f"ARG {base}_IMAGE\nFROM ${{{base}_IMAGE}}\nCOPY services/{name}/app /app\n"
        write(repo.services / name / "Dockerfile", dockerfile)
        write(repo.services / name / "app" / "main.py", "print('hi')\n")
    git(repo, "init", "--quiet")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "start")
    return repo


@pytest.mark.parametrize(("version", "expected"), [("3.11-1", "3.11-2"), ("12-9", "12-10"), ("7", "8"), ("x", "x-1")])
def test_next_version_raises_the_build_number(version: str, expected: str) -> None:
    assert next_version(version) == expected


def test_apply_edits_one_line_and_keeps_comments(repo: Repo) -> None:
    path = repo.versions_file
    path.write_text("# the source of truth\n" + path.read_text())
    apply(repo, [BaseChange("python", "3.11-2", ["less"])])
    text = path.read_text()
    assert text.startswith("# the source of truth\n")
    assert '    version: "3.11-2"\n    packages: [less]\n' in text
    versions = load_versions(repo)
    assert versions.images["python"].packages == ["less"] and versions.images["postgres"].version == "15-1"


def test_apply_refuses_a_bad_package_and_writes_nothing(repo: Repo) -> None:
    before = repo.versions_file.read_text()
    with pytest.raises(ConfigError, match=r"images\.python\.packages"):
        apply(repo, [BaseChange("python", "3.11-2", ["Not_A_Package"])])
    assert repo.versions_file.read_text() == before


def test_plan_changes_checks_the_request(repo: Repo) -> None:
    versions = load_versions(repo)
    with pytest.raises(ConfigError, match="'pyton' is not a base image"):
        plan_changes(versions, "pyton", "1", None)
    with pytest.raises(ConfigError, match=r"e\.g\. `nox -s upgrade_base -- python 3\.11-2`"):
        plan_changes(versions, "python", None, None)
    with pytest.raises(ConfigError, match=r"python is already at 3\.11-1"):
        plan_changes(versions, "python", "3.11-1", None)
    with pytest.raises(ConfigError, match="the OS root takes no extra packages"):
        plan_changes(versions, "os", "12-2", ["less"])
    refresh = plan_changes(versions, None, None, None)
    assert [(c.name, c.version) for c in refresh] == [
        ("os", "12-2"), ("python", "3.11-2"), ("python-build", "3.11-2"), ("postgres", "15-2"),
    ]  # fmt: skip


def test_extra_packages_are_added_to_those_declared(repo: Repo) -> None:
    """--package adds to the base's declared packages (never drops one, no duplicates); a new package
    alone is a change even at the same version, the same packages at the same version are not."""
    apply(repo, [BaseChange("python", "3.11-1", ["less"])])
    versions = load_versions(repo)
    [change] = plan_changes(versions, "python", "3.11-1", ["curl", "less"])
    assert (change.name, change.version, change.packages) == ("python", "3.11-1", ["less", "curl"])
    [bump] = plan_changes(versions, "python", "3.11-2", None)
    assert bump.packages is None, "no --package: the declared packages are left as they are"
    with pytest.raises(ConfigError, match=r"python is already at 3\.11-1; give a new version"):
        plan_changes(versions, "python", "3.11-1", ["less"])


def test_a_service_change_affects_that_service_only(tracked: Repo) -> None:
    (tracked.services / "catalog" / "app" / "main.py").write_text("print('changed')\n")
    assert affected_images(tracked, load_versions(tracked), "HEAD") == ["catalog"]


def test_a_base_change_affects_everything_built_on_it(tracked: Repo) -> None:
    dockerfile = tracked.base_images / "python" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "# changed\n")
    assert affected_images(tracked, load_versions(tracked), "HEAD") == ["python", "python-build", "catalog"]


def test_a_versions_entry_change_counts_like_a_file_change(tracked: Repo) -> None:
    apply(tracked, [BaseChange("postgres", "15-2")])
    assert affected_images(tracked, load_versions(tracked), "HEAD") == ["postgres"]
    git(tracked, "commit", "--quiet", "-am", "postgres 15-2")
    apply(tracked, [BaseChange("os", "12-2")])
    assert affected_images(tracked, load_versions(tracked), "HEAD") == [
        "python", "python-build", "postgres", "catalog", "gateway",
    ]  # fmt: skip
    assert affected_images(tracked, load_versions(tracked), "HEAD~0") != []


def test_committed_changes_since_a_ref_and_untracked_files_count(tracked: Repo) -> None:
    write(tracked.services / "gateway" / "app" / "extra.conf", "x\n")  # untracked
    assert affected_images(tracked, load_versions(tracked), "HEAD") == ["gateway"]
    git(tracked, "add", "--all")
    git(tracked, "commit", "--quiet", "-m", "gateway: extra")
    assert affected_images(tracked, load_versions(tracked), "HEAD") == []
    assert affected_images(tracked, load_versions(tracked), "HEAD~1") == ["gateway"]


def test_an_unknown_ref_is_a_clear_error(tracked: Repo) -> None:
    with pytest.raises(ConfigError, match="--changed-since nope: no such commit"):
        affected_images(tracked, load_versions(tracked), "nope")


def test_a_bad_package_is_refused_in_memory_before_anything_is_built_or_written(repo: Repo) -> None:
    before = repo.versions_file.read_text()
    with pytest.raises(ConfigError, match=r"images\.python\.packages\.0"):
        check(repo, [BaseChange("python", "3.11-2", ["Bad_Name"])])
    assert repo.versions_file.read_text() == before
    assert check(repo, [BaseChange("python", "3.11-2", ["less"])]).images["python"].packages == ["less"]
    assert repo.versions_file.read_text() == before, "a good change is only checked, not written"
