"""A lock file with a malformed environment marker (lmsops.images.wheelhouse.read_lock): one line naming
the file, the entry and the marker, a configuration error (exit 2), before anything is downloaded or the
wheelhouse touched; never packaging's traceback."""

from __future__ import annotations

import pytest

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.images.wheelhouse import ensure_wheelhouse, read_lock
from tests.unit.conftest import write
from tests.unit.image_fakes import FakeRunner, reporter

H1 = "a" * 64


@pytest.mark.parametrize(
    ("marker", "reason"),
    [
        ("python_version >= '3.11", "Expected a marker variable or quoted string"),  # an unclosed quote
        ("pythn_version < '3.12'", "Expected a marker variable or quoted string"),  # not a marker variable
        ("python_version < '3.12' and", "Expected a marker variable or quoted string"),
        ("python_version ~= 'x'", "Undefined <Op('~=')> on '3.11' and 'x'."),  # no version to compare
    ],
)
def test_a_malformed_marker_is_one_line_naming_the_entry(repo: Repo, marker: str, reason: str) -> None:
    lock = write(
        repo.services / "quiz" / "requirements.lock", f"tzdata==2026.6 ; {marker} \\\n    --hash=sha256:{H1}\n"
    )
    with pytest.raises(ConfigError) as error:
        read_lock(lock, "services/quiz/requirements.lock")
    assert str(error.value) == (
        f"services/quiz/requirements.lock: entry tzdata==2026.6: the environment marker {marker!r} is not valid "
        f"({reason}); regenerate the lock with `nox -s lock` (or fix the marker by hand)"
    )
    assert error.value.exit_code == 2
    assert "\n" not in str(error.value)


def test_the_wheelhouse_is_left_as_it_was(monkeypatch: pytest.MonkeyPatch, repo: Repo) -> None:
    service = repo.services / "quiz"
    write(service / "requirements.lock", f"tzdata==2026.6 ; sys_platform = 'linux' \\\n    --hash=sha256:{H1}\n")
    kept = write(repo.work / "wheelhouse" / "quiz" / "tzdata-2026.5-py2.py3-none-any.whl", "last week's wheel")
    pip = FakeRunner(monkeypatch, lambda call: pytest.fail(f"nothing may run: {call.argv}"))
    report, out = reporter()
    with pytest.raises(ConfigError, match=r"the environment marker \"sys_platform = 'linux'\" is not valid"):
        ensure_wheelhouse(repo, service, report)
    assert pip.calls == [] and out.getvalue() == ""
    assert [path.name for path in kept.parent.iterdir()] == [kept.name] and kept.read_text() == "last week's wheel"
