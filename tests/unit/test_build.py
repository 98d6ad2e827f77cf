from __future__ import annotations

import io
import re

import pytest

from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images import build as build_module
from lmsops.images.bootstrap import BootstrapResult
from lmsops.images.build import BuildError, build, failure_reasons
from tests.unit.conftest import write
from tests.unit.fakes import FakeDocker


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    fake = FakeDocker()
    os_id = fake.add_image("debian:bookworm-slim")

    def fake_bootstrap(*_args: object) -> BootstrapResult:
        return BootstrapResult("debian:bookworm-slim", os_id, "debootstrap", changed=False)

    monkeypatch.setattr(build_module, "bootstrap", fake_bootstrap)
    return fake


def run(repo: Repo, docker: FakeDocker, *names: str) -> tuple[list[build_module.Built], str]:
    out = io.StringIO()
    results = build(repo, docker, Reporter(out), list(names))
    return results, out.getvalue()


def test_first_build_builds_every_base_in_order_with_args_from_versions(repo: Repo, docker: FakeDocker) -> None:
    results, _ = run(repo, docker)
    assert [r.name for r in results] == ["python", "python-build", "postgres"]
    assert all(r.built for r in results)
    built = [b["tags"][0].split(":")[0] for b in docker.builds]
    assert built.index("lmsops/python") < built.index("lmsops/python-build"), "a base is built before what is FROM it"
    python_build = next(b for b in docker.builds if b["tags"][0].startswith("lmsops/python-build:"))
    immutable, alias = python_build["tags"]
    assert re.fullmatch(r"lmsops/python-build:3\.11-1-[0-9a-f]{12}", immutable)
    assert alias == "lmsops/python-build:3.11-1"
    python = results[0].reference
    assert re.fullmatch(r"lmsops/python:3\.11-1-[0-9a-f]{12}", python)
    assert python_build["build_args"] == {"PYTHON_IMAGE": python}  # FROM an immutable tag
    labels = python_build["labels"]
    assert labels["org.opencontainers.image.base.name"] == python
    assert labels["org.opencontainers.image.base.digest"] == docker.images[python]["Id"]
    for key in ("revision", "source", "version", "created", "title"):
        assert labels[f"org.opencontainers.image.{key}"]


def test_second_build_does_nothing_and_says_up_to_date(repo: Repo, docker: FakeDocker) -> None:
    run(repo, docker)
    builds_before = len(docker.builds)
    results, out = run(repo, docker)
    assert len(docker.builds) == builds_before
    assert not any(r.built for r in results)
    assert out.count("up to date") == 4  # three images and the summary line
    assert "0 built, 3 up to date" in out


def test_changing_a_base_rebuilds_it_and_what_builds_on_it_only(repo: Repo, docker: FakeDocker) -> None:
    run(repo, docker)
    write(repo.base_images / "python" / "extra.txt", "new input\n")
    results, _ = run(repo, docker)
    assert {r.name: r.built for r in results} == {"python": True, "python-build": True, "postgres": False}


def test_a_version_bump_in_versions_yaml_retags_and_rebuilds(repo: Repo, docker: FakeDocker) -> None:
    run(repo, docker)
    text = repo.versions_file.read_text().replace('version: "15-1"', 'version: "15-2"')
    repo.versions_file.write_text(text)
    results, _ = run(repo, docker)
    built = {r.name: r.reference for r in results if r.built}
    assert list(built) == ["postgres"] and built["postgres"].startswith("lmsops/postgres:15-2-")
    assert docker.images["lmsops/postgres:15-2"] == docker.images[built["postgres"]]


def test_a_failed_build_names_the_image_and_shows_dockers_last_lines(repo: Repo, docker: FakeDocker) -> None:
    docker.fail_build = "postgres"
    with pytest.raises(BuildError) as error:
        run(repo, docker)
    message = str(error.value)
    assert message.startswith("building postgres (base-images/postgres/Dockerfile) failed")
    assert "Unable to locate package nonexistent-package" in message


def test_services_are_tagged_by_version_and_inputs(repo: Repo, docker: FakeDocker) -> None:
    write(repo.services / "catalog" / "Dockerfile", "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\n")
    first, _ = run(repo, docker, "catalog")
    assert [r.name for r in first] == ["python", "catalog"]
    tag = first[-1].reference
    assert tag.startswith("lmsops/catalog:0.0.0-") and len(tag.split("-")[-1]) == 12
    again, _ = run(repo, docker, "catalog")
    assert again[-1].reference == tag and not again[-1].built


def test_a_failed_builds_reason_is_found_anywhere_in_its_output() -> None:
    output = [
        "Step 4/9 : RUN apt-get install -y no-such-package",
        "Reading package lists... 10%\rReading package lists... Done\r\x1b[91mE: Unable to locate package nope\x1b[0m",
        *[f"noise {n}" for n in range(40)],  # far more than the tail that is shown
        "E: Unable to locate package nope",
        "The command '/bin/sh -c apt-get install' returned a non-zero code: 100",
    ]
    assert failure_reasons(output) == ["E: Unable to locate package nope"]
    assert failure_reasons(["all fine", "Step 1/2"]) == []
