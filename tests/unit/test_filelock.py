"""The publish lock: a second holder is told it waits, and gets the lock only after the first."""

from __future__ import annotations

import threading
from pathlib import Path

from lmsops.core.filelock import exclusive


def test_a_second_holder_is_told_and_waits_until_the_first_is_done(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "publish.lock"
    events: list[str] = []
    told = threading.Event()

    def waiting() -> None:
        events.append("waiting")
        told.set()

    def second() -> None:
        with exclusive(lock, on_wait=waiting):
            events.append("held by the second")

    with exclusive(lock):
        thread = threading.Thread(target=second)
        thread.start()
        assert told.wait(timeout=10), "the second holder was not told it waits"
        events.append("released by the first")
    thread.join(timeout=10)
    assert events == ["waiting", "released by the first", "held by the second"]


def test_an_uncontended_lock_does_not_wait(tmp_path: Path) -> None:
    waited: list[str] = []
    with exclusive(tmp_path / "free.lock", on_wait=lambda: waited.append("waited")):
        pass
    assert waited == []
