"""The wheelhouse after a major upgrade: a universal lock names the wheels of every interpreter, the
wheel cache is shared, so only the wheels the image's CPython can install may be taken (found in the
first real bookworm -> trixie run: cp311 wheels from the cache went into a CPython 3.13 image)."""

from __future__ import annotations

import hashlib
import sys

import pytest

from lmsops.core import proc
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.images.versions_edit import BaseChange, apply
from lmsops.images.wheelhouse import ensure_wheelhouse, installable, target_args
from tests.unit.conftest import write
from tests.unit.image_fakes import Call, FakeRunner, reply, reporter

CP311 = "markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
CP313 = "markupsafe-3.0.4-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
PURE = "anyio-4.16.0-py3-none-any.whl"
CONTENT = {CP311: b"markupsafe for 3.11", CP313: b"markupsafe for 3.13", PURE: b"anyio"}


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(
    ("filename", "python", "expected"),
    [
        (CP311, "3.11", True), (CP311, "3.13", False), (CP313, "3.13", True), (PURE, "3.13", True),
        ("cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl", "3.13", True),
        ("httptools-0.9.0-cp313-cp313-manylinux1_x86_64.manylinux_2_5_x86_64.whl", "3.13", True),
        ("pydantic_core-2.50.5-cp313-cp313-musllinux_1_1_x86_64.whl", "3.13", False),
        ("x-1.0-cp313-cp313-win_amd64.whl", "3.13", False),
        ("x-1.0-cp313-cp313-manylinux_2_39_x86_64.whl", "3.13", False),  # newer glibc than bookworm's
        ("x-1.0.tar.gz", "3.13", False),
    ],
)  # fmt: skip
def test_a_wheel_is_installable_by_its_tags(filename: str, python: str, expected: bool) -> None:
    assert installable(filename, python) is expected


def test_after_a_major_upgrade_the_wheelhouse_takes_the_new_interpreters_wheels(
    monkeypatch: pytest.MonkeyPatch, repo: Repo
) -> None:
    service = repo.services / "catalog"
    hashes = " ".join(f"--hash=sha256:{sha256(CONTENT[name])}" for name in (CP311, CP313))
    write(
        service / "requirements.lock",
        f"markupsafe==3.0.4 {hashes}\nanyio==4.16.0 --hash=sha256:{sha256(CONTENT[PURE])}\n",
    )
    cache = repo.work / "wheel-cache"
    write(cache / CP311, CONTENT[CP311].decode())  # left by the builds on bookworm
    write(cache / PURE, CONTENT[PURE].decode())
    calls: list[list[str]] = []

    def pip(call: Call) -> proc.Result | None:
        if call.argv[1:4] != ["-m", "pip", "download"]:
            return None
        calls.append(call.argv)
        if "cp313" in call.argv:
            write(cache / CP313, CONTENT[CP313].decode())  # pip fetches the 3.13 wheel beside the cached one
        return reply(call)

    FakeRunner(monkeypatch, pip)
    first = ensure_wheelhouse(repo, service, reporter()[0])
    assert first is not None and sorted(p.name for p in first.iterdir()) == [PURE, CP311]
    apply(repo, [BaseChange("python", "3.13-1")])
    wheelhouse = ensure_wheelhouse(repo, service, reporter()[0])

    assert wheelhouse is not None and sorted(p.name for p in wheelhouse.iterdir()) == [PURE, CP313]
    # The first wheelhouse (3.11) came from the cache alone; only the 3.13 wheel had to be fetched.
    assert calls == [
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes", *target_args("3.13"),
         "--dest", str(cache), "--requirement", str(service / "requirements.lock")]
    ]  # fmt: skip


def test_a_cached_wheel_of_another_interpreter_is_never_taken_instead(
    monkeypatch: pytest.MonkeyPatch, repo: Repo
) -> None:
    """When pip brings no wheel for 3.13, the cached cp311 one (its hash is in the lock) is refused."""
    service = repo.services / "catalog"
    hashes = " ".join(f"--hash=sha256:{sha256(CONTENT[name])}" for name in (CP311, CP313))
    write(service / "requirements.lock", f"markupsafe==3.0.4 {hashes}\n")
    write(repo.work / "wheel-cache" / CP311, CONTENT[CP311].decode())
    apply(repo, [BaseChange("python", "3.13-1")])
    FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[1:4] == ["-m", "pip", "download"] else None)
    with pytest.raises(ConfigError, match=r"no wheel of markupsafe==3.0.4 for Linux x86_64 CPython 3.13"):
        ensure_wheelhouse(repo, service, reporter()[0])
