"""lmsops.supply.syft: syft is handed the image as a `docker save` archive through the adapter, never
asked to reach the daemon or the network, and each image ID is scanned once (the cache is exact).
docker and syft are a scripted engine behind lmsops.core.proc (tests/unit/adapter_fakes.py); syft's
answer is the recorded SBOM of tests/unit/test_sbom.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError, ConfigError, PrerequisiteError
from lmsops.supply.syft import ImageNotHereError, Scanner
from tests.unit.adapter_fakes import Answer, Call, ScriptedEngine, scripted_engine
from tests.unit.test_sbom import RECORDED, document, pypi

SYFT = "/opt/tools/syft"
IMAGE_ID = "sha256:" + "5e" * 32
REFERENCE = "lmsops/catalog:0.1.0-abc"


class Syft:
    """docker image inspect/save and syft, scripted: save leaves an archive, syft writes `answer`."""

    def __init__(self, engine: ScriptedEngine, answer: bytes) -> None:
        self.answer, self.failing = answer, False
        self.archives: list[Path] = []
        engine.answer("image", "inspect", stdout=json.dumps({"Id": IMAGE_ID}))
        engine.on("image", "save", handler=self._save)
        engine.answer("version", stdout=json.dumps({"application": "syft", "version": "1.18.1"}))
        engine.on("scan", handler=self._scan)

    def _save(self, call: Call) -> Answer:
        archive = Path(call.args[call.args.index("--output") + 1])
        archive.write_bytes(b"an image archive")
        self.archives.append(archive)
        return Answer()

    def _scan(self, call: Call) -> Answer:
        if self.failing:
            return Answer(stderr="could not read the archive", returncode=1)
        output = next(arg for arg in call.args if arg.startswith("cyclonedx-json="))
        Path(output.removeprefix("cyclonedx-json=")).write_bytes(self.answer)
        return Answer()


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    monkeypatch.setattr(proc, "tool", lambda name: SYFT if name == "syft" else None)
    return scripted_engine(monkeypatch)


def test_the_first_scan_saves_the_image_by_id_and_runs_syft_offline_on_the_archive(
    engine: ScriptedEngine, tmp_path: Path
) -> None:
    syft = Syft(engine, document([pypi("psycopg", "3.3.9")], IMAGE_ID))
    scan = Scanner(Docker(), tmp_path / "sbom").scan(REFERENCE)

    assert scan.source == "scanned" and scan.seconds >= 0
    assert [c.name for c in scan.sbom.components] == ["psycopg"] and scan.sbom.image_id == IMAGE_ID
    [archive] = syft.archives
    save = next(call for call in engine.calls if call.args[:2] == ["image", "save"])
    assert save.args == ["image", "save", "--output", str(archive), IMAGE_ID], "by ID: a tag could move"
    [run] = [call for call in engine.calls if call.argv[:2] == [SYFT, "scan"]]
    assert run.argv[2:4] == [f"docker-archive:{archive}", "--quiet"]
    assert run.argv[run.argv.index("--source-name") + 1] == "lmsops/catalog"
    assert run.argv[run.argv.index("--source-version") + 1] == IMAGE_ID
    assert run.env is not None and run.env["SYFT_CHECK_FOR_APP_UPDATE"] == "false", "syft never calls home"
    assert run.env["SYFT_FILE_METADATA_SELECTION"] == "none", "no per-file hashes: CycloneDX output has none"
    assert run.env["TMPDIR"] == str(archive.parent), "its unpacked layers go where they are cleaned up"
    cached = tmp_path / "sbom" / "syft-1.18.1" / f"{IMAGE_ID.removeprefix('sha256:')}.cdx.json"
    assert cached.read_bytes() == scan.sbom.document
    assert not archive.parent.exists(), "the archive and syft's scratch are removed"
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]


def test_an_image_id_scanned_before_is_read_from_the_cache_without_docker_save_or_syft(
    engine: ScriptedEngine, tmp_path: Path
) -> None:
    Syft(engine, json.dumps(RECORDED).encode())
    scanner = Scanner(Docker(), tmp_path / "sbom")
    first = scanner.scan(REFERENCE)
    calls = len(engine.calls)

    again = Scanner(Docker(), tmp_path / "sbom").scan("127.0.0.1:5000/lmsops/catalog@sha256:" + "1" * 64)

    assert (again.source, again.sbom) == ("cache", first.sbom)
    scans_and_saves = [c.args[:2] for c in engine.calls[calls:] if c.args[:1] == ["scan"] or c.args[1:2] == ["save"]]
    assert scans_and_saves == [], "the same image ID (under another reference) is not scanned again"


def test_an_image_the_engine_does_not_have_is_a_configuration_error_naming_it(
    engine: ScriptedEngine, tmp_path: Path
) -> None:
    engine.answer("image", "inspect", stderr="Error: No such image: lmsops/catalog:nope", returncode=1)
    with pytest.raises(ImageNotHereError, match="image lmsops/catalog:nope is not on this Docker engine") as raised:
        Scanner(Docker(), tmp_path / "sbom").scan("lmsops/catalog:nope")
    assert isinstance(raised.value, ConfigError) and raised.value.exit_code == 2
    assert not (tmp_path / "sbom").exists(), "nothing written"


def test_without_syft_the_scan_is_a_prerequisite_error_saying_how_to_get_it(
    engine: ScriptedEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Syft(engine, b"{}")
    monkeypatch.setattr(proc, "tool", lambda name: None)
    with pytest.raises(PrerequisiteError, match=r"syft is not installed here\. .*nox -s sbom"):
        Scanner(Docker(), tmp_path / "sbom").scan(REFERENCE)


def test_a_failing_syft_is_a_command_error_and_leaves_no_cache_or_scratch_behind(
    engine: ScriptedEngine, tmp_path: Path
) -> None:
    syft = Syft(engine, b"")
    syft.failing = True
    with pytest.raises(CommandError, match="could not read the archive"):
        Scanner(Docker(), tmp_path / "sbom").scan(REFERENCE)
    assert list((tmp_path / "sbom" / "syft-1.18.1").iterdir()) == []


def test_output_that_is_not_cyclonedx_is_never_cached(engine: ScriptedEngine, tmp_path: Path) -> None:
    Syft(engine, b'{"spdxVersion": "SPDX-2.3"}')
    with pytest.raises(ConfigError, match=r"syft's SBOM of lmsops/catalog:0\.1\.0-abc: not a CycloneDX document"):
        Scanner(Docker(), tmp_path / "sbom").scan(REFERENCE)
    assert list((tmp_path / "sbom" / "syft-1.18.1").iterdir()) == []


def test_the_cache_is_per_syft_version(engine: ScriptedEngine, tmp_path: Path) -> None:
    Syft(engine, json.dumps(RECORDED).encode())
    Scanner(Docker(), tmp_path / "sbom").scan(REFERENCE)
    engine.forget("version")
    engine.answer("version", stdout=json.dumps({"version": "1.19.0"}))
    assert Scanner(Docker(), tmp_path / "sbom").scan(REFERENCE).source == "scanned", "a new syft scans again"
    assert sorted(p.name for p in (tmp_path / "sbom").iterdir()) == ["syft-1.18.1", "syft-1.19.0"]
