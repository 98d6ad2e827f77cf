"""Base image upgrades in one step, affected-only builds and `outdated`, in a scratch clone.

Real builds on the real engine; the images a test makes are removed afterwards.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.labels import OCI
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.plan import plan_images
from lmsops.images.upgrade import upgrade_base
from lmsops.images.versions import load_versions
from lmsops.images.versions_edit import BaseChange, apply
from tests.integration.scratch import commit, make_clone, run


def local_images(docker: Docker) -> set[str]:
    return set(docker.image_tags("lmsops/*"))


@pytest.fixture
def clone(repo: Repo, docker: Docker, tmp_path: Path) -> Iterator[Path]:
    """A scratch clone; the image tags it adds are removed afterwards. Only its own: other test files
    build and tag images on the same engine at the same time (found removing their images mid-test)."""
    before = local_images(docker)
    path = make_clone(repo, tmp_path / "lms")
    yield path
    for tag in sorted(local_images(docker) - before):
        if docker.image_labels(tag).get("org.opencontainers.image.source") == path.as_uri():
            docker.remove_image(tag)


def lmsops(clone: Path, *args: str, check: bool = True) -> tuple[int, str, str]:
    result = run([sys.executable, "-m", "lmsops", *args], clone, check)
    return result.returncode, result.stdout, result.stderr


def test_upgrading_the_python_base_rebuilds_every_python_service_and_nothing_else(clone: Path, docker: Docker) -> None:
    repo = Repo(clone)
    before = {image.name: image.reference for image in plan_images(repo, load_versions(repo))}

    result = upgrade_base(repo, docker, Reporter(), "python", "3.11-2", ["less"], mode="offline")

    assert result.rebuilt == ["python", "catalog", "enrollment"]
    after = {image.name: image.reference for image in plan_images(repo, load_versions(repo))}
    for unrelated in ("python-build", "postgres", "gateway"):
        assert after[unrelated] == before[unrelated], f"{unrelated} was not to be rebuilt"
    new_python = docker.image_id(after["python"])
    for service in ("catalog", "enrollment"):
        old, new = result.before[service], result.after[service]
        assert old is not None and new is not None
        assert old.base_digest != new.base_digest == new_python
        assert docker.image_labels(after[service])[f"{OCI}.base.name"] == after["python"]
        assert new.debian.get("less") and "less" not in old.debian
    assert [(test.name, test.passed) for test in result.tests] == [
        ("catalog unit tests", True),
        ("enrollment unit tests", True),
        ("conformance of dev", True),
    ]
    assert result.report is not None
    report = result.report.read_text()
    assert "`python`: 3.11-1 -> 3.11-2" in report and "+less " in report
    assert "conformance of dev: passed" in report
    versions = load_versions(repo)
    assert (versions.images["python"].version, versions.images["python"].packages) == ("3.11-2", ["less"])


def test_a_failing_upgrade_says_why_and_leaves_the_source_of_truth_unchanged(clone: Path, docker: Docker) -> None:
    versions_file = clone / "base-images" / "versions.yaml"
    original = versions_file.read_bytes()

    code, _out, err = lmsops(
        clone, "upgrade-base", "python", "3.11-3", "--package", "no-such-package-lmsops", "--no-tests", check=False
    )

    assert code == 1
    first = err.splitlines()[0]
    assert first.startswith("lmsops: error: upgrade failed (E: Unable to locate package no-such-package-lmsops)"), err
    assert "base-images/versions.yaml left unchanged" in first and "building python" in first, err
    assert "Traceback" not in err
    assert versions_file.read_bytes() == original
    assert build_step_containers(docker, "no-such-package-lmsops") == [], "the failed build step's container is gone"


def build_step_containers(docker: Docker, marker: str) -> list[str]:
    """Containers whose configuration carries marker (a build step's container has its build
    arguments in its environment): this test's own, whatever else runs on the engine."""
    ids = docker.run("ps", "--all", "--quiet", "--no-trunc").stdout.split()
    if not ids:
        return []
    inspected = json.loads(docker.run("container", "inspect", *ids, check=False).stdout or "[]")
    return [str(c["Id"])[:12] for c in inspected if marker in json.dumps(c.get("Config") or {})]


def test_bad_upgrade_requests_are_refused_before_anything_is_touched(clone: Path) -> None:
    unknown = lmsops(clone, "upgrade-base", "pyton", "1", check=False)
    assert unknown[0] == 2 and "'pyton' is not a base image of base-images/versions.yaml" in unknown[2]
    assert "python is already at 3.11-1" in lmsops(clone, "upgrade-base", "python", "3.11-1", check=False)[2]
    assert "or --all" in lmsops(clone, "upgrade-base", check=False)[2]
    refused = lmsops(clone, "upgrade-base", "python", "3.11-2", "--package", "Bad_Name", "--no-tests", check=False)
    assert refused[0] == 2 and "images.python.packages" in refused[2]
    assert run(["git", "status", "--porcelain"], clone).stdout == ""


def test_changed_since_builds_only_what_a_commit_affects(clone: Path) -> None:
    routes = clone / "services" / "catalog" / "app" / "api" / "routes" / "courses.py"
    routes.write_text(routes.read_text() + "\n# a change to the catalog only\n")
    commit(clone, "catalog: a change")

    assert lmsops(clone, "images", "--changed-since", "HEAD~1")[1].split() == ["catalog"]
    _code, out, _err = lmsops(clone, "build", "--changed-since", "HEAD~1", "--offline")
    assert "build: changed since HEAD~1: catalog" in out
    built = [line.split()[2] for line in out.splitlines() if line.startswith("==> building")]
    assert len(built) == 1 and built[0].startswith("lmsops/catalog:"), out
    assert "1 built" in out

    dockerfile = clone / "base-images" / "python" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\n# a change to the python base\n")
    commit(clone, "python base: a change")
    assert lmsops(clone, "images", "--changed-since", "HEAD~1")[1].split() == ["python", "catalog", "enrollment"]
    assert lmsops(clone, "images", "--changed-since", "HEAD~2")[1].split() == ["python", "catalog", "enrollment"]
    assert lmsops(clone, "images", "--changed-since", "HEAD")[1].split() == []


def test_outdated_flags_services_built_on_an_older_base(clone: Path) -> None:
    code, out, _err = lmsops(clone, "outdated", "--no-debian", check=False)
    assert code == 0, out
    apply(Repo(clone), [BaseChange("python", "3.11-9")])

    code, out, _err = lmsops(clone, "outdated", "--no-debian", check=False)

    assert code == 1
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    for service in ("catalog", "enrollment"):
        assert "OUTDATED: built on python 3.11-1, versions.yaml declares 3.11-9" in rows[service]
    for current in ("python-build", "postgres", "gateway"):
        assert rows[current].endswith("current")


def test_outdated_asks_debian_about_every_base(repo: Repo) -> None:
    result = run([sys.executable, "-m", "lmsops", "outdated"], repo.root, check=False)
    assert result.returncode in (0, 1), result.stderr
    for base in ("os", "python", "python-build", "postgres"):
        assert any(
            line.startswith(f"{base}: ") and ("Debian packages up to date" in line or " Debian update" in line)
            for line in result.stdout.splitlines()
        ), result.stdout
