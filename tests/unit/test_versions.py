from __future__ import annotations

import pytest

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.images.versions import OsRoot, build_arg_for, load_versions
from tests.unit.conftest import VERSIONS, write


def test_loads_the_single_source_of_truth(repo: Repo) -> None:
    versions = load_versions(repo)
    assert versions.reference("python") == "lmsops/python:3.11-1"
    assert versions.reference("os") == "debian:bookworm-slim"
    assert versions.names() == ["os", "python", "python-build", "postgres"]


def test_build_arg_names_follow_the_image_name() -> None:
    assert build_arg_for("python-build") == "PYTHON_BUILD_IMAGE"
    assert build_arg_for("os") == "OS_IMAGE"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ('version: "3.11-1"', 'versoin: "3.11-1"'),
            "images.python.versoin: unknown key (did you mean 'version'?); fix or",
        ),
        (
            ("  suite: bookworm\n", "  suite: bookworm\n  zzz: 1\n"),
            f"os.zzz: unknown key; known keys: {', '.join(OsRoot.model_fields)}; fix or remove it",
        ),
        (("digest: sha256:3783", "digest: md5:3783"), "os.digest: String should match pattern"),
        (("  python:\n", "  Python_Base:\n"), "must be lowercase"),
        (("  suite: bookworm\n", ""), "os.suite: required; add it"),
    ],
)
def test_every_problem_names_the_file_and_key(repo: Repo, edit: tuple[str, str], expected: str) -> None:
    write(repo.versions_file, VERSIONS.replace(*edit, 1))
    with pytest.raises(ConfigError) as error:
        load_versions(repo)
    assert str(error.value).startswith("base-images/versions.yaml: ")
    assert expected in str(error.value)


def test_reports_all_problems_at_once(repo: Repo) -> None:
    text = VERSIONS.replace("  suite: bookworm\n", "").replace("namespace: lmsops", "namespace: LMS OPS")
    write(repo.versions_file, text)
    with pytest.raises(ConfigError) as error:
        load_versions(repo)
    assert "2 problems" in str(error.value)
    assert "os.suite" in str(error.value)
    assert "namespace" in str(error.value)


def test_yaml_syntax_error_names_the_line(repo: Repo) -> None:
    write(repo.versions_file, VERSIONS + "images: [unclosed\n")
    with pytest.raises(ConfigError, match=r"versions.yaml: line \d+: invalid YAML"):
        load_versions(repo)


def test_os_is_reserved(repo: Repo) -> None:
    write(repo.versions_file, VERSIONS + "  os:\n    version: '1'\n")
    with pytest.raises(ConfigError, match="reserved for the OS root"):
        load_versions(repo)
