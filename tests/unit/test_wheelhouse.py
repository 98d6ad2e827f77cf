from __future__ import annotations

from pathlib import Path

import pytest

from lmsops.core.errors import ConfigError
from lmsops.images.wheelhouse import read_lock
from tests.unit.conftest import write

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
    entries = read_lock(lock, "svc/requirements.lock")
    assert [(e.name, e.version) for e in entries] == [("fastapi", "0.165.0"), ("psycopg-binary", "3.3.9")]
    assert entries[0].hashes == {H1, H2}


def test_an_unpinned_or_unhashed_entry_is_refused(tmp_path: Path) -> None:
    lock = write(tmp_path / "requirements.lock", "fastapi>=0.100\n")
    with pytest.raises(ConfigError, match=r"svc/requirements.lock: entry 'fastapi>=0.100' is not pinned"):
        read_lock(lock, "svc/requirements.lock")
    lock = write(tmp_path / "requirements.lock", "fastapi==0.165.0\n")
    with pytest.raises(ConfigError, match="nox -s lock"):
        read_lock(lock, "svc/requirements.lock")
