from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from lmsops.core import proc
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.images.wheelhouse import ensure_wheelhouse, read_lock, share_wheel_cache, target_args
from tests.unit.conftest import write
from tests.unit.image_fakes import Call, FakeRunner, reply, reporter

H1, H2 = "a" * 64, "b" * 64


def test_reads_pins_and_hashes_and_drops_other_platforms(tmp_path: Path) -> None:
    lock = write(
        tmp_path / "requirements.lock",
        f"""\
        # generated
        fastapi==0.165.0 \\
            --hash=sha256:{H1} \\
            --hash=sha256:{H2}
            # via -r requirements.in
        psycopg-binary==3.3.9 ; implementation_name != 'pypy' \\
            --hash=sha256:{H1}
        tzdata==2026.6 ; sys_platform == 'win32' \\
            --hash=sha256:{H2}
        """,
    )
    entries = read_lock(lock, "svc/requirements.lock", "3.11")
    assert [(e.name, e.version) for e in entries] == [("fastapi", "0.165.0"), ("psycopg-binary", "3.3.9")]
    assert entries[0].hashes == {H1, H2}


def test_an_unpinned_or_unhashed_entry_is_refused(tmp_path: Path) -> None:
    lock = write(tmp_path / "requirements.lock", "fastapi>=0.100\n")
    with pytest.raises(ConfigError, match=r"svc/requirements.lock: entry 'fastapi>=0.100' is not pinned"):
        read_lock(lock, "svc/requirements.lock")
    lock = write(tmp_path / "requirements.lock", "fastapi==0.165.0\n")
    with pytest.raises(ConfigError, match="nox -s lock"):
        read_lock(lock, "svc/requirements.lock")


# ensure_wheelhouse: pip (faked) downloads into the shared cache; the wheelhouse gets exactly the locked files.
WHEELS = {
    "fastapi-0.115.0-py3-none-any.whl": b"fastapi wheel",
    "pydantic_core-2.23.4-cp311-cp311-manylinux_2_17_x86_64.whl": b"pydantic-core wheel",
}


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def service(repo: Repo) -> Path:
    """services/catalog with a universal lock: two Linux wheels and a Windows-only one."""
    folder = repo.services / "catalog"
    write(
        folder / "requirements.lock",
        f"""\
        fastapi==0.115.0 \\
            --hash=sha256:{sha256(WHEELS["fastapi-0.115.0-py3-none-any.whl"])}
        pydantic-core==2.23.4 \\
            --hash=sha256:{H1} \\
            --hash=sha256:{sha256(WHEELS["pydantic_core-2.23.4-cp311-cp311-manylinux_2_17_x86_64.whl"])}
        colorama==0.4.6 ; sys_platform == 'win32' \\
            --hash=sha256:{H2}
        """,
    )
    return folder


class Pip:
    """`pip download`: writes the wheels it is given into --dest, and notes each call."""

    def __init__(self, wheels: dict[str, bytes]) -> None:
        self.wheels = wheels
        self.calls: list[list[str]] = []

    def __call__(self, call: Call) -> proc.Result | None:
        if call.argv[1:4] != ["-m", "pip", "download"]:
            return None
        self.calls.append(call.argv)
        dest = Path(call.argv[call.argv.index("--dest") + 1])
        for name, content in self.wheels.items():
            (dest / name).write_bytes(content)
        return reply(call)


def test_the_wheelhouse_holds_exactly_the_locked_wheels_and_is_reused(
    monkeypatch: pytest.MonkeyPatch, repo: Repo, service: Path
) -> None:
    """pip downloads the lock for Linux x86_64 CPython 3.11 with hashes required; the wheelhouse gets
    the wheels whose hash the lock names (not another service's wheel in the shared cache); a second
    call finds it complete and downloads nothing."""
    pip = Pip(WHEELS)
    FakeRunner(monkeypatch, pip)
    cache = repo.work / "wheel-cache"
    write(cache / "sqlalchemy-2.0.36-cp311-cp311-manylinux_2_17_x86_64.whl", "another service's wheel")
    report, out = reporter()

    target = ensure_wheelhouse(repo, service, report)

    assert target == repo.work / "wheelhouse" / "catalog"
    assert sorted(path.name for path in target.iterdir()) == sorted(WHEELS)
    assert pip.calls == [
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes", *target_args("3.11"),
         "--dest", str(cache), "--requirement", str(service / "requirements.lock")]
    ]  # fmt: skip
    assert "catalog: downloading 2 locked wheels into the wheelhouse" in out.getvalue()
    assert ensure_wheelhouse(repo, service, reporter()[0]) == target
    assert len(pip.calls) == 1


def test_a_stale_wheelhouse_is_rebuilt(monkeypatch: pytest.MonkeyPatch, repo: Repo, service: Path) -> None:
    """A wheelhouse left from an older lock (an extra or outdated wheel) is replaced, not topped up."""
    FakeRunner(monkeypatch, Pip(WHEELS))
    old = write(repo.work / "wheelhouse" / "catalog" / "fastapi-0.110.0-py3-none-any.whl", "old fastapi")
    target = ensure_wheelhouse(repo, service, reporter()[0])
    assert target is not None and not old.exists()
    assert sorted(path.name for path in target.iterdir()) == sorted(WHEELS)


def test_a_locked_package_without_a_linux_wheel_is_named(
    monkeypatch: pytest.MonkeyPatch, repo: Repo, service: Path
) -> None:
    """When no downloaded file has a hash the lock allows (an sdist-only release, say), the entry is named."""
    FakeRunner(monkeypatch, Pip({"fastapi-0.115.0-py3-none-any.whl": WHEELS["fastapi-0.115.0-py3-none-any.whl"]}))
    with pytest.raises(ConfigError, match=r"services/catalog/requirements.lock: no wheel of pydantic-core==2.23.4 for"):
        ensure_wheelhouse(repo, service, reporter()[0])


def test_a_service_without_a_lock_has_no_wheelhouse(monkeypatch: pytest.MonkeyPatch, repo: Repo) -> None:
    pip = Pip(WHEELS)
    FakeRunner(monkeypatch, pip)
    gateway = write(repo.services / "gateway" / "Dockerfile", "FROM x\n").parent
    assert ensure_wheelhouse(repo, gateway, reporter()[0]) is None
    assert pip.calls == []


def test_a_lock_whose_every_wheel_is_cached_asks_pip_for_nothing(
    monkeypatch: pytest.MonkeyPatch, repo: Repo, service: Path
) -> None:
    """A new service locks the same versions as the others: its wheelhouse comes from the shared cache
    (hash-checked), without pip asking the package index again."""
    pip = Pip(WHEELS)
    FakeRunner(monkeypatch, pip)
    for name, content in WHEELS.items():
        (repo.work / "wheel-cache").mkdir(parents=True, exist_ok=True)
        (repo.work / "wheel-cache" / name).write_bytes(content)
    report, out = reporter()
    target = ensure_wheelhouse(repo, service, report)
    assert target is not None and sorted(path.name for path in target.iterdir()) == sorted(WHEELS)
    assert pip.calls == [] and "downloading" not in out.getvalue()


def test_a_cached_file_with_the_right_name_but_other_content_is_not_taken(
    monkeypatch: pytest.MonkeyPatch, repo: Repo, service: Path
) -> None:
    pip = Pip(WHEELS)
    FakeRunner(monkeypatch, pip)
    write(repo.work / "wheel-cache" / "fastapi-0.115.0-py3-none-any.whl", "tampered")
    write(repo.work / "wheel-cache" / "pydantic_core-2.23.4-cp311-cp311-manylinux_2_17_x86_64.whl", "tampered")
    target = ensure_wheelhouse(repo, service, reporter()[0])
    assert len(pip.calls) == 1, "the hashes did not match: pip fetched them"
    assert target is not None
    assert {path.read_bytes() for path in target.iterdir()} == set(WHEELS.values())


def test_a_clone_gets_its_origins_wheels_and_keeps_its_own(tmp_path: Path, repo: Repo) -> None:
    clone = Repo(tmp_path / "clone")
    write(repo.work / "wheel-cache" / "a-1-py3-none-any.whl", "a")
    write(clone.work / "wheel-cache" / "b-1-py3-none-any.whl", "b")
    share_wheel_cache(repo, clone)
    cached = {path.name: path.read_text() for path in (clone.work / "wheel-cache").iterdir()}
    assert cached == {"a-1-py3-none-any.whl": "a", "b-1-py3-none-any.whl": "b"}
    share_wheel_cache(Repo(tmp_path / "no-cache-here"), clone)  # an origin that fetched nothing: nothing to do
