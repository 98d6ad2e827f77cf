"""Nothing changes before everything is checked: a refused deploy builds nothing and pushes nothing.

The deploys run from a scratch clone whose catalog differs from every other image on this engine
(one committed comment), so "nothing built, nothing pushed" is checked on that image alone, whatever
other tests build or push at the same time.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from lmsops.bench.throwaway import secret_variables
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from tests.integration.scratch import commit, make_clone, run

REGISTRY = "127.0.0.1:5000"  # lmsops's loopback registry, started for the test run (tests/engine_state.py)


def registry_tags(repository: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/{repository}/tags/list", timeout=10) as answer:
            return list(json.load(answer).get("tags") or [])
    except urllib.error.HTTPError as error:
        if error.code == 404:  # a repository nothing was ever pushed to
            return []
        raise


@pytest.fixture(scope="module")
def clone(repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_clone(repo, tmp_path_factory.mktemp("checks") / "lms")
    main = path / "services" / "catalog" / "app" / "__init__.py"
    main.write_text(main.read_text() + f"\n# a catalog of its own ({path.name}, {os.getpid()})\n")
    commit(path, "a catalog no other test builds")
    return path


def catalog_reference(clone: Path) -> str:
    references = run([sys.executable, "-m", "lmsops", "images", "--references"], clone).stdout.split()
    return next(ref for ref in references if ref.startswith("lmsops/catalog:"))


@pytest.mark.parametrize(
    ("args", "secrets", "refusal"),
    [
        (["deploy", "production"], True, "production is protected (confirm: true): nothing was changed"),
        (["deploy", "production", "--yes"], False, "env/production.yaml: secrets."),
    ],
    ids=["without-yes", "missing-secret"],
)
def test_a_refused_production_deploy_builds_nothing_and_pushes_nothing(
    clone: Path, docker: Docker, monkeypatch: pytest.MonkeyPatch, args: list[str], secrets: bool, refusal: str
) -> None:
    reference = catalog_reference(clone)
    tag = reference.split(":", 1)[1]
    assert docker.image_inspect(reference) is None, "the clone's catalog is its own: built by nobody yet"
    for name in secret_variables(Repo(clone)):  # every secret production reads: set, or none at all
        if secrets:
            monkeypatch.setenv(name, "a-test-value-0123456789")
        else:
            monkeypatch.delenv(name, raising=False)

    result = run([sys.executable, "-m", "lmsops", *args], clone, check=False)

    assert result.returncode == 2, (result.stdout, result.stderr)  # a user mistake (lmsops.core.errors)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("lmsops: error: ") and "Traceback" not in result.stderr, result.stderr
    assert all(refusal in line for line in lines), ("one line per problem, each naming what to do", lines)
    assert "building" not in result.stdout and "publishing" not in result.stdout, result.stdout
    if "--yes" not in args:  # a protected environment shows what it would change, then stops
        assert result.stdout.startswith("plan: production"), result.stdout
    assert docker.image_inspect(reference) is None, "nothing was built"
    assert tag not in registry_tags("lmsops/catalog"), "nothing was pushed"
