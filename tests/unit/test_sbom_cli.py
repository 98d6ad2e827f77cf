"""`python -m lmsops sbom [IMAGE...|ENV] [--output DIR] [--find PACKAGE] [--json]`: what it reads the
SBOMs of, what it prints or writes, and a bad name ending in one line, exit 2, nothing scanned or
written. The engine is an engine-free fake; syft a stand-in making an SBOM per image from PACKAGES."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lmsops.cli import common
from lmsops.cli import sbom as sbom_cli
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.images.plan import plan_images
from lmsops.images.versions import load_versions
from lmsops.supply.cyclonedx import parse
from lmsops.supply.syft import ImageNotHereError, Scan
from lmsops.targets.base import ServiceStatus
from tests.unit.cli_fakes import EngineDocker, lmsops
from tests.unit.test_sbom import deb, document, pypi

Capsys = pytest.CaptureFixture[str]

PACKAGES: dict[str, list[dict[str, Any]]] = {
    "catalog": [pypi("psycopg", "3.3.9", {"id": "LGPL-3.0-only"}), deb("tini", "0.19.0-1")],
    "enrollment": [pypi("psycopg", "3.2.0"), deb("tini", "0.19.0-1")],
    "gateway": [deb("haproxy", "2.6.12-1+deb12u2", "GPL-2.0-or-later"), deb("tini", "0.19.0-1")],
}
SCANNED: list[str] = []


class Syft:
    """Scanner stand-in: the SBOM of an image the engine has, its packages by the image's name."""

    def __init__(self, docker: Docker, cache: Path) -> None:
        self.docker = docker

    def scan(self, reference: str, name: str | None = None) -> Scan:
        image_id = self.docker.image_id(reference)
        if image_id is None:
            raise ImageNotHereError(f"image {reference} is not on this Docker engine; build or pull it first")
        SCANNED.append(reference)
        image = reference.rsplit("/", 1)[-1].split(":")[0]
        components = PACKAGES.get(image, [deb("base-files", "12.4+deb12u9", "GPL-2.0-or-later"), deb("libcrypt1", "1")])
        return Scan(parse(document(components, image_id), reference), "scanned", 2.0)


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> EngineDocker:
    fake = EngineDocker()
    monkeypatch.setattr(common, "Docker", lambda: fake)
    monkeypatch.setattr(sbom_cli, "Scanner", Syft)
    SCANNED.clear()
    return fake


@pytest.fixture
def built(repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The scratch repository (the OS root and three bases) as the one lmsops works on, every image built."""
    monkeypatch.setenv("LMSOPS_ROOT", str(repo.root))
    versions = load_versions(repo)
    images = {"os": versions.os.reference} | {image.name: image.reference for image in plan_images(repo, versions)}
    for reference in images.values():
        docker.add_image(reference)
    return images


def test_without_a_name_every_image_of_the_commit_is_summed_up(built: dict[str, str], capsys: Capsys) -> None:
    outcome = lmsops(capsys, "sbom")
    assert outcome.code == 0
    assert list(built.values()) == SCANNED, "the OS root, then every image in build order"
    lines = outcome.out.splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "ID", "PACKAGES", "DEB", "PYPI", "OTHER", "LICENCE", "NONE", "SBOM"]
    assert [line.split()[0] for line in lines[1:]] == list(built)
    assert lines[1].split()[2:8] == ["2", "2", "0", "0", "1", "1"], "two debs, one with a licence"
    assert lines[1].endswith("scanned in 2.0 s")
    assert [line.split(":")[0].strip() for line in outcome.err.splitlines()] == list(built), "progress on stderr"


def test_one_image_is_printed_package_by_package(built: dict[str, str], capsys: Capsys) -> None:
    outcome = lmsops(capsys, "sbom", "python")
    assert outcome.code == 0
    assert [line.split() for line in outcome.out.splitlines()] == [
        ["TYPE", "NAME", "VERSION", "LICENCES"],
        ["deb", "base-files", "12.4+deb12u9", "GPL-2.0-or-later"],
        ["deb", "libcrypt1", "1", "-"],
        ["python:", "2", "packages,", "syft", "1.18.1"],
    ]


def test_output_writes_each_cyclonedx_document_as_syft_wrote_it(
    built: dict[str, str], docker: EngineDocker, tmp_path: Path, capsys: Capsys
) -> None:
    folder = tmp_path / "sboms" / "today"
    outcome = lmsops(capsys, "sbom", "python", "postgres", "--output", str(folder))
    assert outcome.code == 0
    assert sorted(path.name for path in folder.iterdir()) == ["postgres.cdx.json", "python.cdx.json"]
    python = parse((folder / "python.cdx.json").read_bytes(), "python")
    assert python.image_id == docker.image_id(built["python"])
    assert "2 CycloneDX files written to" in outcome.err


def test_json_gives_each_sbom_with_where_it_came_from(
    built: dict[str, str], docker: EngineDocker, capsys: Capsys
) -> None:
    outcome = lmsops(capsys, "sbom", "postgres", "--json")
    [entry] = json.loads(outcome.out)["sboms"]
    assert (entry["name"], entry["image"], entry["source"]) == ("postgres", built["postgres"], "scanned")
    assert entry["image_id"] == docker.image_id(built["postgres"]) == entry["sbom"]["metadata"]["component"]["version"]
    assert entry["digest"].startswith("sha256:") and entry["sbom"]["bomFormat"] == "CycloneDX"


def test_an_image_reference_is_read_as_given(built: dict[str, str], docker: EngineDocker, capsys: Capsys) -> None:
    docker.add_image("lmsops/gateway:0.1.0-abc")
    outcome = lmsops(capsys, "sbom", "lmsops/gateway:0.1.0-abc", "--find", "haproxy")
    assert outcome.code == 0 and SCANNED == ["lmsops/gateway:0.1.0-abc"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["nosuch"],
            r"sbom: 'nosuch' is neither an environment of env/ \(\) nor an image lmsops builds \(os, python, ",
        ),
        (["python", "ghost:1"], r"image ghost:1 \(ghost:1\) is not on this Docker engine; build or pull it first"),
    ],
)
def test_a_bad_name_is_one_line_exit_2_and_nothing_scanned_or_written(
    built: dict[str, str], tmp_path: Path, capsys: Capsys, argv: list[str], says: str
) -> None:
    outcome = lmsops(capsys, "sbom", *argv, "--output", str(tmp_path / "out"))
    assert outcome.code == 2
    assert re.match(says, outcome.error_line()), outcome.error_line()
    assert (SCANNED, (tmp_path / "out").exists()) == ([], False)


def test_an_image_of_this_commit_not_built_says_how_to_build_it(
    built: dict[str, str], docker: EngineDocker, capsys: Capsys
) -> None:
    del docker.images[built["postgres"]]
    outcome = lmsops(capsys, "sbom", "python", "postgres")
    assert outcome.code == 2 and SCANNED == []
    assert outcome.error_line() == (
        f"image postgres ({built['postgres']}) is not on this Docker engine; nox -s build -- postgres"
    )


def test_output_onto_a_file_is_refused_before_anything(built: dict[str, str], tmp_path: Path, capsys: Capsys) -> None:
    (tmp_path / "taken").write_text("mine")
    outcome = lmsops(capsys, "sbom", "--output", str(tmp_path / "taken"))
    assert outcome.code == 2 and SCANNED == [] and (tmp_path / "taken").read_text() == "mine"
    assert outcome.error_line().startswith(f"--output {tmp_path / 'taken'}: a file is there; give a folder")


# --- an environment's services --------------------------------------------------------------------

RUNNING = {
    "catalog": "lmsops/catalog:0.1.0-c",
    "enrollment": "lmsops/enrollment:0.1.0-e",
    "gateway": "lmsops/gateway:0.1.0-g",
}


@pytest.fixture
def staging(project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The project's environments; staging runs RUNNING (its target's status), every image on the engine."""
    monkeypatch.setenv("LMSOPS_ROOT", str(project.root))
    asked: list[tuple[Any, ...]] = []
    rows = [ServiceStatus(service, 2, 2, "healthy", image, "abc") for service, image in RUNNING.items()]

    def target_for(repo: Repo, engine: Docker, env: Any) -> SimpleNamespace:
        asked.append((repo, engine, env.name))
        return SimpleNamespace(engine=engine, status=lambda: rows if env.name == "staging" else [])

    monkeypatch.setattr(sbom_cli, "target_for", target_for)
    for image in RUNNING.values():
        docker.add_image(image)
    return asked


def test_find_names_every_service_with_the_package_and_those_without(
    staging: list[tuple[Any, ...]], docker: EngineDocker, capsys: Capsys
) -> None:
    outcome = lmsops(capsys, "sbom", "staging", "--find", "psycopg")
    assert outcome.code == 0
    assert [env for *_, env in staging] == ["staging"] and staging[0][1] is docker
    assert [line.split() for line in outcome.out.splitlines()] == [
        ["SERVICE", "IMAGE", "PACKAGE", "TYPE", "VERSION", "LICENCES"],
        ["catalog", RUNNING["catalog"], "psycopg", "pypi", "3.3.9", "LGPL-3.0-only"],
        ["enrollment", RUNNING["enrollment"], "psycopg", "pypi", "3.2.0", "-"],
        ["gateway", RUNNING["gateway"], "psycopg", "not", "present"],
        ["psycopg:", "in", "2", "of", "3", "services"],
    ]


def test_find_exits_1_when_no_service_has_the_package_and_says_so_for_each(
    staging: list[tuple[Any, ...]], capsys: Capsys
) -> None:
    outcome = lmsops(capsys, "sbom", "staging", "--find", "openssl", "--json")
    assert outcome.code == 1
    assert json.loads(outcome.out) == {
        "package": "openssl",
        "found": [],
        "absent": [{"name": service, "image": image} for service, image in RUNNING.items()],
    }


def test_find_as_json_gives_each_version_with_its_licences_and_purl(
    staging: list[tuple[Any, ...]], capsys: Capsys
) -> None:
    outcome = lmsops(capsys, "sbom", "staging", "--find", "HAProxy", "--json")
    assert outcome.code == 0
    [found] = json.loads(outcome.out)["found"]
    assert found == {
        "name": "gateway", "image": RUNNING["gateway"], "package": "haproxy", "type": "deb",
        "version": "2.6.12-1+deb12u2", "licences": ["GPL-2.0-or-later"],
        "purl": "pkg:deb/debian/haproxy@2.6.12-1+deb12u2?arch=amd64&distro=debian-12",
    }  # fmt: skip


def test_an_environment_with_nothing_deployed_or_mixed_with_images_is_refused(
    staging: list[tuple[Any, ...]], capsys: Capsys
) -> None:
    empty = lmsops(capsys, "sbom", "dev")
    assert (empty.code, empty.error_line()) == (
        2,
        "dev: nothing is deployed, so no image to read (nox -s deploy -- dev)",
    )
    mixed = lmsops(capsys, "sbom", "staging", "catalog")
    assert (mixed.code, mixed.error_line()) == (
        2,
        "sbom: give an environment (staging) alone, or image names without one",
    )
    assert SCANNED == []
