from __future__ import annotations

import io
import re
from typing import Any

import pytest

from lmsops.core.errors import ConfigError
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


def test_a_no_op_build_inspects_each_image_once(repo: Repo, docker: FakeDocker) -> None:
    """Its id, labels and size come from one inspect (`nox -s bench` compares it with that floor);
    a base's alias tag (python:3.11-1) is inspected too, to re-tag it if it moved."""
    first, _ = run(repo, docker)
    docker.inspected.clear()
    results, _ = run(repo, docker)
    references = [r.reference for r in first]
    aliases = [ref for ref in docker.images if ref.startswith("lmsops/") and ref not in references]
    assert len(aliases) == len(references)
    assert sorted(docker.inspected) == sorted(references + aliases)
    assert [(r.image_id, r.size) for r in results] == [(docker.images[r.reference]["Id"], 1_000_000) for r in first]


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


def test_a_reason_split_by_the_other_stream_is_joined_back() -> None:
    # What the classic builder printed for a step whose stdout wrote 'Reading...', '\\n' while its
    # stderr wrote 'E', ': Unable to x', '\\n' (apt writes them so): each stderr write in red, the
    # two streams interleaved write by write (reproduced with printf and sleeps in a RUN step).
    output = [
        "Step 2/2 : RUN apt-get install -y x",
        "\x1b[91mE\x1b[0mReading...",
        "\x1b[91m: Unable to locate package x",
        "\x1b[0mThe command '/bin/sh -c apt-get install -y x' returned a non-zero code: 100",
    ]
    assert failure_reasons(output) == ["E: Unable to locate package x"]
    glued = ["Reading state information...\x1b[91mE: Unable to locate package y", "\x1b[0mRemoving intermediate"]
    assert failure_reasons(glued) == ["E: Unable to locate package y"]


class SharingDocker(FakeDocker):
    """A second machine's engine: empty, beside a registry that holds what another machine built."""

    def __init__(self, registry: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.registry = registry
        self.pulled: list[str] = []

    def registry_digest(self, reference: str) -> str | None:
        return "sha256:" + "d" * 64 if reference in self.registry else None

    def pull(self, ref: str) -> None:
        self.pulled.append(ref)
        self.images[ref] = self.registry[ref]


def shared_by_a_first_machine(
    repo: Repo, docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> dict[str, dict[str, Any]]:
    """What a first machine built, as the registry holds it (127.0.0.1:5000/<reference>)."""
    monkeypatch.delenv("LMSOPS_REGISTRY", raising=False)
    results, _ = run(repo, docker)
    return {f"127.0.0.1:5000/{r.reference}": docker.images[r.reference] for r in results}


def test_with_a_shared_registry_a_second_machine_pulls_instead_of_building_or_bootstrapping(
    repo: Repo, docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = shared_by_a_first_machine(repo, docker, monkeypatch)
    second = SharingDocker(registry)
    monkeypatch.setenv("LMSOPS_REGISTRY", "127.0.0.1:5000")
    monkeypatch.setattr(build_module, "bootstrap", lambda *_: pytest.fail("nothing is left to build: no OS root"))

    results, out = run(repo, second)

    assert second.builds == [] and sorted(second.pulled) == sorted(registry)
    assert not any(r.built for r in results) and all(r.pulled for r in results)
    assert "build: 3 images, 0 built, 3 pulled from 127.0.0.1:5000, 0 up to date" in out
    for result in results:
        assert f"<== {result.reference}: pulled from 127.0.0.1:5000" in out
        assert second.images[result.reference]["Id"] == docker.images[result.reference]["Id"]
    assert "lmsops/python:3.11-1" in second.images, "a base's version tag comes with it"


def test_what_the_registry_lacks_is_built_on_what_it_holds(
    repo: Repo, docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = shared_by_a_first_machine(repo, docker, monkeypatch)
    postgres = next(key for key in registry if "/lmsops/postgres:" in key)
    del registry[postgres]
    second = SharingDocker(registry)
    os_id = second.add_image("debian:bookworm-slim")
    root = BootstrapResult("debian:bookworm-slim", os_id, "debootstrap", changed=False)
    monkeypatch.setattr(build_module, "bootstrap", lambda *_: root)
    monkeypatch.setenv("LMSOPS_REGISTRY", "127.0.0.1:5000")

    results, _ = run(repo, second)

    assert [b["tags"][0].split(":")[0] for b in second.builds] == ["lmsops/postgres"]
    assert len(second.pulled) == 2 and [r.name for r in results if r.built] == ["postgres"]


def test_an_image_in_the_registry_from_other_inputs_is_refused(
    repo: Repo, docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = shared_by_a_first_machine(repo, docker, monkeypatch)
    python = next(key for key in registry if "/lmsops/python:" in key)
    registry[python] = {**registry[python], "Config": {"Labels": {"org.lmsops.inputs": "someone-elses"}}}
    monkeypatch.setenv("LMSOPS_REGISTRY", "127.0.0.1:5000")
    with pytest.raises(BuildError, match=r"127\.0\.0\.1:5000/lmsops/python:.* is not built from this tree's inputs"):
        run(repo, SharingDocker(registry))


def test_every_services_lock_is_read_before_the_first_build(repo: Repo, docker: FakeDocker) -> None:
    """A broken lock of the last service is reported before any image (base or service) is built."""
    for name in ("catalog", "enrollment"):
        write(repo.services / name / "Dockerfile", "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\n")
    write(repo.services / "catalog" / "requirements.lock", f"tzdata==2026.6 \\\n    --hash=sha256:{'a' * 64}\n")
    write(repo.services / "enrollment" / "requirements.lock", "fastapi>=0.100\n")
    with pytest.raises(ConfigError, match=r"^services/enrollment/requirements\.lock: entry 'fastapi>=0\.100' "):
        run(repo, docker, "catalog", "enrollment")
    assert docker.builds == []
