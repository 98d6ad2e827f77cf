from __future__ import annotations

from pathlib import Path

from lmsops.core.hashing import inputs_hash, tree_files
from tests.unit.conftest import write


def digest(folder: Path, **values: str) -> str:
    return inputs_hash([(str(p.relative_to(folder)), p) for p in tree_files(folder)], values)


def test_equal_inputs_give_equal_hashes_and_any_change_shows(tmp_path: Path) -> None:
    script = write(tmp_path / "ctx" / "run.sh", "echo hi\n")
    first = digest(tmp_path / "ctx", version="1")
    assert digest(tmp_path / "ctx", version="1") == first
    assert digest(tmp_path / "ctx", version="2") != first
    script.chmod(0o755)
    executable = digest(tmp_path / "ctx", version="1")
    assert executable != first
    script.write_text("echo bye\n")
    assert digest(tmp_path / "ctx", version="1") != executable


def test_caches_do_not_count(tmp_path: Path) -> None:
    write(tmp_path / "ctx" / "app.py", "x = 1\n")
    before = digest(tmp_path / "ctx")
    write(tmp_path / "ctx" / "__pycache__" / "app.cpython-311.pyc", "junk")
    assert digest(tmp_path / "ctx") == before
