"""The deploy lock: one deploy, rollback, promotion or removal of an environment at a time.

The lock lives in the target itself, so every operator and CI job sees it, from any machine:
- Swarm: a config `<stack>_deploy_lock`. The swarm's replicated store refuses a second config of the
  same name, so two managers or two machines can never both take it.
- Compose: a volume `<project>_deploy_lock`. The engine creates a name once; a second create returns
  the first volume with its first creator's labels, so the token in those labels decides who holds it.
Both carry the holder (who, on which host, which process, which command, since when). A second
command waits a bounded time for the lock, then refuses naming the holder; a lock left by a process
that died (kill -9, a lost CI runner) is broken only on request (--break-lock).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.progress import Reporter
from lmsops.releases.history import who

LOCK_LABEL = "org.lmsops.deploy-lock"
POLL_SECONDS = 1.0  # how often a waiting command asks the engine again
ANNOUNCE_EVERY = 15.0  # how often a waiting command says it still waits


@dataclass(frozen=True)
class LockPolicy:
    """How a command meets a held lock: wait up to `wait` seconds, or break it first (stale)."""

    wait: float = 120.0
    break_lock: bool = False


DEFAULT_LOCK = LockPolicy()


@dataclass(frozen=True)
class Holder:
    who: str
    host: str
    pid: int
    command: str
    since: str
    token: str

    def line(self) -> str:
        return f"{self.command} by {self.who} on {self.host} (pid {self.pid}) since {self.since}"

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def decode(text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return Holder(str(data["who"]), str(data["host"]), int(data["pid"]), str(data["command"]),
                          str(data["since"]), str(data["token"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None


class LockStore(Protocol):
    """Where a kind of target keeps its lock."""

    name: str

    def take(self, me: Holder) -> Holder | None:
        """Create the lock for me unless it exists; return whoever holds it now (None: it vanished
        between the create and the read, ask again)."""
        ...

    def current(self) -> Holder | None:
        """Who holds the lock; None when nobody does."""
        ...

    def remove(self) -> None: ...


class SwarmLock:
    def __init__(self, engine: Docker, stack: str) -> None:
        self.engine, self.name = engine, f"{stack}_deploy_lock"
        self._labels = {LOCK_LABEL: stack}

    def take(self, me: Holder) -> Holder | None:
        if self.engine.config_create(self.name, self._labels, me.encode().encode(), check=False):
            return me
        return self.current()

    def current(self) -> Holder | None:
        data = self.engine.config_data(self.name)
        return Holder.decode(data.decode("utf-8", "replace")) if data is not None else None

    def remove(self) -> None:
        self.engine.config_rm([self.name])


class ComposeLock:
    def __init__(self, engine: Docker, project: str) -> None:
        self.engine, self.name = engine, f"{project}_deploy_lock"

    def take(self, me: Holder) -> Holder | None:
        labels = self.engine.volume_create(self.name, {LOCK_LABEL: me.encode()})
        return Holder.decode(labels.get(LOCK_LABEL, ""))

    def current(self) -> Holder | None:
        labels = self.engine.volume_labels(self.name)
        return Holder.decode(labels.get(LOCK_LABEL, "")) if labels is not None else None

    def remove(self) -> None:
        self.engine.volume_rm([self.name])


def holder_here(command: str) -> Holder:
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Holder(who(), socket.gethostname(), os.getpid(), command, since, uuid.uuid4().hex)


@contextmanager
def held(
    store: LockStore,
    env_name: str,
    command: str,
    policy: LockPolicy,
    report: Reporter,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Holder]:
    """Hold the environment's lock for the block; released at its end, whatever happens."""
    me = holder_here(command)
    current = store.take(me)
    if policy.break_lock and (current is None or current.token != me.token):
        held_by = current.line() if current else "nobody it names"
        report.say(f"==> {env_name}: breaking the deploy lock held by {held_by} (--break-lock)")
        store.remove()
        current = store.take(me)
    started = clock()
    announced = -ANNOUNCE_EVERY
    unreadable = 0
    while current is None or current.token != me.token:
        if current is None:  # gone between our create and our read, or a record that names nobody
            unreadable += 1
            if unreadable > 3:
                raise ConfigError(f"{env_name}: the deploy lock {store.name} names no holder; "
                                  f"remove it with --break-lock")  # fmt: skip
            current = store.take(me)
            continue
        waited = clock() - started
        if waited >= policy.wait:
            raise ConfigError(
                f"{env_name} is locked by {current.line()} (lock {store.name}); try again when it ends, or, "
                f"if that run is gone, break the stale lock with --break-lock"
            )
        if waited - announced >= ANNOUNCE_EVERY:
            report.say(f"==> {env_name}: waiting for the deploy lock held by {current.line()} "
                       f"({waited:.0f} s of at most {policy.wait:.0f} s)")  # fmt: skip
            announced = waited
        sleep(POLL_SECONDS)  # polling the engine for the holder to finish, not synchronising threads
        current = store.take(me)
    try:
        yield me
    finally:
        still = store.current()  # released only while it is still ours (a --break-lock may have taken it)
        if still is not None and still.token == me.token:
            store.remove()
