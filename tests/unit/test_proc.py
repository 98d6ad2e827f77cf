"""lmsops.core.proc, the one runner of external programs: argv lists, captured output, every failure
turned into one CommandError or PrerequisiteError. Real (tiny) Python processes where the behaviour is
the operating system's; the scripted engine where only a fault can show it (a timeout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lmsops.core import proc
from lmsops.core.errors import CommandError, PrerequisiteError
from tests.unit.adapter_fakes import scripted_engine

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", code]


# -- run -------------------------------------------------------------------------------------------


def test_run_captures_stdout_and_stderr_apart_and_output_joins_them_stripped() -> None:
    argv = py("import sys; print('out'); print('err', file=sys.stderr)")
    result = proc.run(argv)
    assert (result.argv, result.returncode, result.stdout, result.stderr) == (argv, 0, "out\n", "err\n")
    assert result.output == "out\nerr"


def test_a_failing_command_is_one_command_error_with_its_exit_code_output_and_hint() -> None:
    argv = py("import sys; print('boom', file=sys.stderr); sys.exit(3)")
    with pytest.raises(CommandError) as failed:
        proc.run(argv, hint="try again later")
    error = failed.value
    assert (error.cmd, error.returncode, error.output, error.hint) == (argv, 3, "boom", "try again later")
    assert str(error) == f"command failed (exit 3): {' '.join(argv)}\n    boom\ntry again later"


def test_check_false_returns_the_failure_instead_of_raising() -> None:
    result = proc.run(py("import sys; sys.exit(5)"), check=False)
    assert result.returncode == 5


def test_env_is_added_to_the_inherited_environment_and_input_and_cwd_reach_the_program(tmp_path: Path) -> None:
    code = "import os, sys; print(os.environ['LMSOPS_T'], 'PATH' in os.environ, os.getcwd(), sys.stdin.read())"
    result = proc.run(py(code), env={"LMSOPS_T": "given"}, input_bytes=b"fed", cwd=tmp_path)
    assert result.stdout.split() == ["given", "True", str(tmp_path.resolve()), "fed"]


def test_output_that_is_not_utf8_is_decoded_with_replacement_characters() -> None:
    result = proc.run(py("import sys; sys.stdout.buffer.write(b'ok\\xff')"))
    assert result.stdout == "ok\ufffd"


def test_a_program_that_is_not_installed_is_a_prerequisite_error_naming_it_and_the_hint() -> None:
    with pytest.raises(PrerequisiteError, match=r"^'lmsops-no-such-tool' is not installed or not on PATH\. Install"):
        proc.run(["lmsops-no-such-tool", "--version"], hint="Install it.")


def test_a_timeout_is_a_command_error_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = scripted_engine(monkeypatch)
    engine.answer("version", raises=subprocess.TimeoutExpired(["docker", "version"], 30))
    with pytest.raises(CommandError) as failed:
        proc.run(["docker", "version"], timeout=30, hint="is the engine up?")
    assert (failed.value.returncode, failed.value.output) == (-1, "timed out after 30 s")
    assert engine.calls[0].timeout == 30


# -- stream ----------------------------------------------------------------------------------------


def test_stream_hands_every_line_over_as_it_comes_stderr_included() -> None:
    seen: list[str] = []
    code = "import sys; print('one', flush=True); print('two', file=sys.stderr, flush=True); print('three')"
    result = proc.stream(py(code), seen.append)
    assert sorted(seen) == ["one", "three", "two"] and seen[0] == "one"
    assert (result.returncode, result.stdout.splitlines()) == (0, seen)


def test_stream_fails_like_run_with_the_output_it_saw(tmp_path: Path) -> None:
    seen: list[str] = []
    argv = py("import os; print(os.environ['LMSOPS_T']); raise SystemExit(2)")
    with pytest.raises(CommandError) as failed:
        proc.stream(argv, seen.append, env={"LMSOPS_T": "step 1/2"}, cwd=tmp_path, hint="see above")
    assert seen == ["step 1/2"]
    assert (failed.value.returncode, failed.value.output, failed.value.hint) == (2, "step 1/2", "see above")


def test_stream_of_a_program_that_is_not_installed_is_a_prerequisite_error() -> None:
    with pytest.raises(PrerequisiteError, match="'lmsops-no-such-tool' is not installed"):
        proc.stream(["lmsops-no-such-tool"], lambda _line: None)


# -- pipe ------------------------------------------------------------------------------------------


def test_pipe_feeds_the_producer_into_the_consumer_without_a_shell() -> None:
    result = proc.pipe(py("print('a; echo b')"), py("import sys; print(sys.stdin.read().upper(), end='')"))
    assert (result.returncode, result.stdout) == (0, "A; ECHO B\n")


def test_a_failing_producer_fails_the_pipe_naming_the_producer_and_its_stderr() -> None:
    producer = py("import sys; print('tar: cannot open', file=sys.stderr); sys.exit(2)")
    with pytest.raises(CommandError) as failed:
        proc.pipe(producer, py("import sys; sys.stdin.read()"), hint="cannot read HEAD:x")
    assert (failed.value.cmd, failed.value.returncode) == (producer, 2)
    assert (failed.value.output.strip(), failed.value.hint) == ("tar: cannot open", "cannot read HEAD:x")


def test_a_failing_consumer_fails_the_pipe_naming_the_consumer() -> None:
    consumer = py("import sys; sys.stdin.read(); print('import refused', file=sys.stderr); sys.exit(4)")
    with pytest.raises(CommandError) as failed:
        proc.pipe(py("print('data')"), consumer)
    assert (failed.value.cmd, failed.value.returncode, failed.value.output) == (consumer, 4, "import refused")


def test_a_producer_that_is_not_installed_is_a_prerequisite_error() -> None:
    with pytest.raises(PrerequisiteError, match="'lmsops-no-such-tool' is not installed"):
        proc.pipe(["lmsops-no-such-tool"], py("pass"))


def test_a_consumer_that_is_not_installed_is_a_prerequisite_error() -> None:
    with pytest.raises(PrerequisiteError):
        proc.pipe(py("print('x')"), ["lmsops-no-such-tool"])


def test_pipe_runs_the_consumer_with_the_environment_it_was_given() -> None:
    consumer = py("import os, sys; sys.stdin.read(); print(os.environ.get('LMSOPS_T', 'unset'), end='')")
    assert proc.pipe(py("print('x')"), consumer, env={"LMSOPS_T": "given"}).stdout == "given"


# -- tool ------------------------------------------------------------------------------------------


def test_tool_prefers_the_program_beside_this_python_then_path_then_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "lmsops-tool").write_text("#!/bin/sh\n")
    on_path = tmp_path / "path"
    on_path.mkdir()
    for name in ("lmsops-tool", "lmsops-other"):
        (on_path / name).write_text("#!/bin/sh\n")
        (on_path / name).chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    monkeypatch.setenv("PATH", str(on_path))
    assert proc.tool("lmsops-tool") == str(venv / "lmsops-tool")
    assert proc.tool("lmsops-other") == str(on_path / "lmsops-other")
    assert proc.tool("lmsops-missing") is None
