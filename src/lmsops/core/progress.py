"""Progress lines for long operations: what is being worked on, and how long it took."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Reporter:
    """Progress lines. A step prints one line when it starts and, when it fails, one with how long it
    ran; its caller prints the result line (what was built or updated, in how long)."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.verbose = verbose

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def detail(self, line: str) -> None:
        """Output of a tool lmsops runs; shown only with --verbose."""
        if self.verbose:
            self.say(f"    | {line}")

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.say(f"==> {what} ...")
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.say(f"<== {what}: FAILED after {seconds(started)}")
            raise


def count(number: int, noun: str, plural: str | None = None) -> str:
    """'1 image', '3 images', '0 images': a count people read without '(s)'."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def seconds(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
