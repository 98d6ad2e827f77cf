"""`nox -s lock` for libs/ and services/ (lmsops.images.locks): which .in files are locked, in which
order, and the exact uv command (hash-locked, universal, for CPython 3.11). uv itself is faked."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsops.core import proc
from lmsops.core.errors import CommandError, ConfigError
from lmsops.core.paths import Repo
from lmsops.images.locks import compile_locks, compile_tool_locks, lock_inputs
from tests.unit.conftest import write
from tests.unit.image_fakes import Call, FakeRunner, reply, reporter

UV = "/opt/uv/bin/uv"


@pytest.fixture
def folders(repo: Repo) -> Repo:
    """A library with a runtime input, a service with runtime and dev inputs, one without any."""
    write(repo.libs / "lms-runtime" / "requirements.in", "pydantic\n")
    write(repo.services / "catalog" / "requirements-dev.in", "-c requirements.lock\npytest\n")
    write(repo.services / "catalog" / "requirements.in", "fastapi\n")
    write(repo.services / "gateway" / "nginx.conf", "events {}\n")
    return repo


def relative(repo: Repo, paths: list[Path]) -> list[str]:
    return [repo.display(path) for path in paths]


def test_every_input_is_found_libs_first_runtime_before_dev(folders: Repo) -> None:
    """Dev locks are constrained by the runtime lock of their folder, so it is compiled first."""
    assert relative(folders, lock_inputs(folders, [])) == [
        "libs/lms-runtime/requirements.in",
        "services/catalog/requirements.in",
        "services/catalog/requirements-dev.in",
    ]
    assert relative(folders, lock_inputs(folders, ["catalog"])) == [
        "services/catalog/requirements.in",
        "services/catalog/requirements-dev.in",
    ]
    assert lock_inputs(folders, ["gateway"]) == []


def test_an_unknown_folder_is_refused_with_the_known_ones(folders: Repo) -> None:
    with pytest.raises(ConfigError, match="no folder 'quiz' under libs/ or services/; known: lms-runtime, catalog"):
        lock_inputs(folders, ["catalog", "quiz"])


def test_each_input_is_compiled_with_hashes_for_every_platform(monkeypatch: pytest.MonkeyPatch, folders: Repo) -> None:
    """One `uv pip compile` per input, run from the repository root with relative paths (they end up in
    the lock's comments), the compile command named as `nox -s lock`; the locks are reported."""
    monkeypatch.setattr(proc, "tool", lambda name: UV if name == "uv" else None)
    uv = FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[0] == UV else None)
    report, out = reporter()

    written = compile_locks(folders, ["catalog"], report)

    locks = ["services/catalog/requirements.lock", "services/catalog/requirements-dev.lock"]
    assert relative(folders, written) == locks
    assert [call.argv for call in uv.calls] == [
        [UV, "pip", "compile", "--quiet", "--generate-hashes", "--universal", "--python-version", "3.11",
         "--custom-compile-command", "nox -s lock", f"services/catalog/{name}.in",
         "--output-file", f"services/catalog/{name}.lock"]
        for name in ("requirements", "requirements-dev")
    ]  # fmt: skip
    assert all(call.cwd == folders.root for call in uv.calls)
    assert out.getvalue().splitlines() == [
        "    services/catalog/requirements.lock: locked",
        "    services/catalog/requirements-dev.lock: locked",
    ]


def test_a_failed_resolution_names_the_input_and_stops(monkeypatch: pytest.MonkeyPatch, folders: Repo) -> None:
    """uv's refusal is raised with the input it could not resolve; later inputs are not compiled."""
    monkeypatch.setattr(proc, "tool", lambda name: UV)

    def uv(call: Call) -> proc.Result:
        return reply(call, 1, stderr="No solution found when resolving dependencies: pydantic>=99")

    runner = FakeRunner(monkeypatch, uv)
    refused = r"(?s)No solution found.*uv could not resolve libs/lms-runtime/requirements\.in"
    with pytest.raises(CommandError, match=refused):
        compile_locks(folders, [], reporter()[0])
    assert len(runner.calls) == 1


def test_without_uv_the_lock_session_is_named(monkeypatch: pytest.MonkeyPatch, folders: Repo) -> None:
    monkeypatch.setattr(proc, "tool", lambda name: None)
    with pytest.raises(ConfigError, match=r"uv is not installed here; run `nox -s lock`"):
        compile_locks(folders, ["lms-runtime"], reporter()[0])


def test_the_tools_locks_are_compiled_the_same_way_as_every_other_lock(
    monkeypatch: pytest.MonkeyPatch, repo: Repo
) -> None:
    """nox's own lock, the Compose plugin's and the sessions' (pyproject.toml's dev extra): one command
    with the same flags as the services' locks (the noxfile used to compile them with others)."""
    monkeypatch.setattr(proc, "tool", lambda name: UV if name == "uv" else None)
    uv = FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[0] == UV else None)
    report, out = reporter()

    written = compile_tool_locks(repo, report)

    targets = ["requirements/nox.lock", "requirements/compose.lock", "requirements/dev.lock"]
    assert relative(repo, written) == targets
    common = [UV, "pip", "compile", "--quiet", "--generate-hashes", "--universal", "--python-version", "3.11",
              "--custom-compile-command", "nox -s lock"]  # fmt: skip
    assert [call.argv for call in uv.calls] == [
        [*common, "requirements/nox.in", "--output-file", "requirements/nox.lock"],
        [*common, "requirements/compose.in", "--output-file", "requirements/compose.lock"],
        [*common, "pyproject.toml", "--extra", "dev", "--output-file", "requirements/dev.lock"],
    ]
    assert out.getvalue().splitlines() == [f"    {target}: locked" for target in targets]
