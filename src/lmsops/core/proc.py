"""Running external programs: argv lists only, output captured, failures as CommandError."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lmsops.core.errors import CommandError, PrerequisiteError

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    """What a finished command returned."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).strip()


def tool(name: str) -> str | None:
    """A program installed beside this Python (the virtualenv nox made), else found on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    timeout: float | None = None,
    hint: str = "",
) -> Result:
    """Run argv and capture its output; raise CommandError on failure when check is set."""
    full_env = {**os.environ, **env} if env else None
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=full_env,
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise PrerequisiteError(f"'{argv[0]}' is not installed or not on PATH. {hint}".strip()) from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(argv, -1, f"timed out after {timeout} s", hint) from exc
    result = Result(
        list(argv),
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )
    if check and result.returncode != 0:
        raise CommandError(argv, result.returncode, result.output, hint)
    return result


def stream(
    argv: Sequence[str],
    on_line: OnLine,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    hint: str = "",
) -> Result:
    """Run argv, hand each output line to on_line as it comes, and fail like run()."""
    full_env = {**os.environ, **env} if env else None
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise PrerequisiteError(f"'{argv[0]}' is not installed or not on PATH. {hint}".strip()) from exc
    assert proc.stdout is not None  # guaranteed by stdout=PIPE
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        lines.append(line)
        on_line(line)
    returncode = proc.wait()
    result = Result(list(argv), returncode, "\n".join(lines), "")
    if returncode != 0:
        raise CommandError(argv, returncode, result.output, hint)
    return result


def pipe(
    producer: Sequence[str], consumer: Sequence[str], *, hint: str = "", env: Mapping[str, str] | None = None
) -> Result:
    """Run `producer | consumer` without a shell (both with env); both must succeed."""
    full_env = {**os.environ, **env} if env else None
    # The producer's stderr goes to a file, not a pipe: a pipe read only at the end would block a
    # producer that writes more than a pipe holds (tar's warnings) while the consumer waits for it.
    with tempfile.TemporaryFile() as first_errors:
        try:
            first = subprocess.Popen(list(producer), stdout=subprocess.PIPE, stderr=first_errors, env=full_env)
        except FileNotFoundError as exc:
            raise PrerequisiteError(f"'{producer[0]}' is not installed or not on PATH. {hint}".strip()) from exc
        try:
            second = subprocess.run(list(consumer), stdin=first.stdout, capture_output=True, check=False, env=full_env)
        except FileNotFoundError as exc:
            first.kill()
            first.wait()
            raise PrerequisiteError(f"'{consumer[0]}' is not installed or not on PATH. {hint}".strip()) from exc
        finally:
            if first.stdout is not None:
                first.stdout.close()
        first_rc = first.wait()
        first_errors.seek(0)
        first_err = first_errors.read().decode("utf-8", "replace")
    if first_rc != 0:
        raise CommandError(producer, first_rc, first_err, hint)
    result = Result(
        list(consumer),
        second.returncode,
        second.stdout.decode("utf-8", "replace"),
        second.stderr.decode("utf-8", "replace"),
    )
    if result.returncode != 0:
        raise CommandError(consumer, result.returncode, result.output, hint)
    return result


OnBytes = Callable[[int], None]
_CHUNK = 1 << 20  # 1 MiB: a dump moves in steps of this size, never whole in memory


def run_streamed(
    argv: Sequence[str],
    *,
    input_bytes: bytes = b"",
    input_file: Path | None = None,
    output: BinaryIO | None = None,
    on_bytes: OnBytes | None = None,
    env: Mapping[str, str] | None = None,
    hint: str = "",
) -> Result:
    """Run argv with binary standard streams, never holding them in memory: its standard input is
    input_bytes followed by the bytes of input_file; its standard output is written to output as it
    comes (else captured as text). on_bytes gets the running count of bytes moved (read from
    input_file, or written to output) after each chunk. The result is returned, not checked; its
    stdout is empty when output is given."""
    full_env = {**os.environ, **env} if env else None
    # stderr goes to a file: a pipe read only at the end would block a program that writes much to it.
    with tempfile.TemporaryFile() as errors:
        try:
            child = subprocess.Popen(
                list(argv),
                env=full_env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        except FileNotFoundError as exc:
            raise PrerequisiteError(f"'{argv[0]}' is not installed or not on PATH. {hint}".strip()) from exc
        assert child.stdin is not None and child.stdout is not None  # guaranteed by PIPE
        # Standard input is fed by a thread while this one drains standard output: doing both in one
        # thread deadlocks once both pipes are full.
        feeder = threading.Thread(
            target=_feed, args=(child.stdin, input_bytes, input_file, None if output else on_bytes), daemon=True
        )
        feeder.start()
        captured = bytearray()
        moved = 0
        # What the pipe holds now (up to a chunk), so progress follows a slow job as it writes instead of
        # waiting for a whole chunk or the end of its output (the buffered reader is never used).
        while chunk := os.read(child.stdout.fileno(), _CHUNK):
            if output is None:
                captured += chunk
                continue
            output.write(chunk)
            moved += len(chunk)
            if on_bytes is not None:
                on_bytes(moved)
        child.stdout.close()
        returncode = child.wait()
        feeder.join()
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    return Result(list(argv), returncode, captured.decode("utf-8", "replace"), stderr)


def _feed(pipe: BinaryIO, first: bytes, source: Path | None, on_bytes: OnBytes | None) -> None:
    """Write first, then source's bytes, into pipe and close it; a reader that stopped early (it
    failed, and says why on its stderr) is not an error here."""
    moved = 0
    with contextlib.suppress(BrokenPipeError, ValueError), pipe:
        pipe.write(first)
        if source is not None:
            with source.open("rb") as stream:
                while chunk := stream.read(_CHUNK):
                    pipe.write(chunk)
                    moved += len(chunk)
                    if on_bytes is not None:
                        on_bytes(moved)


def attached(argv: Sequence[str], *, env: Mapping[str, str] | None = None, hint: str = "") -> int:
    """Run argv on this process's own standard streams (a terminal: an interactive shell, a command
    whose output the user reads as it comes); return its exit code, not checked."""
    full_env = {**os.environ, **env} if env else None
    try:
        return subprocess.run(list(argv), env=full_env, check=False).returncode
    except FileNotFoundError as exc:
        raise PrerequisiteError(f"'{argv[0]}' is not installed or not on PATH. {hint}".strip()) from exc


OnTick = Callable[[], None]
_EOF = None


def watch(
    argv: Sequence[str],
    on_line: OnLine,
    on_tick: OnTick,
    *,
    every: float = 1.0,
    env: Mapping[str, str] | None = None,
    hint: str = "",
) -> Result:
    """Like stream(), but not checked, and on_tick is called at least every `every` seconds while argv
    runs, also while it prints nothing: a long wait can say how it goes (a heartbeat). The output
    (stdout and stderr merged) is the result's stdout."""
    full_env = {**os.environ, **env} if env else None
    try:
        child = subprocess.Popen(
            list(argv), env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise PrerequisiteError(f"'{argv[0]}' is not installed or not on PATH. {hint}".strip()) from exc
    assert child.stdout is not None  # guaranteed by stdout=PIPE
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
    reader.start()
    output: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=every)
            except queue.Empty:
                on_tick()
                continue
            if line is _EOF:
                break
            output.append(line)
            on_line(line)
        returncode = child.wait()
    finally:
        if child.poll() is None:  # interrupted: do not leave it running
            child.terminate()
            child.wait()
    reader.join()
    on_tick()
    return Result(list(argv), returncode, "\n".join(output), "")


def _read_lines(pipe: BinaryIO, into: queue.Queue[str | None]) -> None:
    with contextlib.suppress(ValueError), pipe:
        for raw in pipe:
            into.put(raw.decode("utf-8", "replace").rstrip("\n"))
    into.put(_EOF)


def merged(
    commands: Mapping[str, Sequence[str]],
    on_line: Callable[[str, str], None],
    *,
    env: Mapping[str, str] | None = None,
    hint: str = "",
) -> dict[str, int]:
    """Run several commands side by side and hand each line of their standard output to
    on_line(key, line) as it comes, in the order lines arrive (their standard error is this
    process's); return each one's exit code. Interrupted, every one still running is stopped."""
    full_env = {**os.environ, **env} if env else None
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for key, argv in commands.items():
            try:
                child = subprocess.Popen(list(argv), env=full_env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            except FileNotFoundError as exc:
                raise PrerequisiteError(f"'{argv[0]}' is not installed or not on PATH. {hint}".strip()) from exc
            children[key] = child
            threading.Thread(target=_read_keyed, args=(key, child.stdout, lines), daemon=True).start()
        open_streams = len(children)
        while open_streams:
            key, line = lines.get()
            if line is None:
                open_streams -= 1
            else:
                on_line(key, line)
        return {key: child.wait() for key, child in children.items()}
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
                child.wait()


def _read_keyed(key: str, pipe: BinaryIO | None, into: queue.Queue[tuple[str, str | None]]) -> None:
    assert pipe is not None  # guaranteed by stdout=PIPE
    with contextlib.suppress(ValueError), pipe:
        for raw in pipe:
            into.put((key, raw.decode("utf-8", "replace").rstrip("\n")))
    into.put((key, None))
