"""The deploy lock (lmsops.targets.lock): one command per environment at a time, the holder named.

The waiting logic runs against an in-memory store with a fake clock; the two stores run against a
fake adapter that answers as the engine does (a config name refused twice, a volume created once).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError, ConfigError
from lmsops.core.progress import Reporter
from lmsops.targets.lock import LOCK_LABEL, ComposeLock, Holder, LockPolicy, SwarmLock, held


def holder(name: str, token: str) -> Holder:
    return Holder(name, "ci-runner-7", 4242, "deploy", "2026-11-27T09:00:00Z", token)


class MemoryStore:
    """A lock record in memory; `on_poll` runs before every take after the first (another process)."""

    name = "lms-staging_deploy_lock"

    def __init__(self, taken_by: Holder | None = None) -> None:
        self.record = taken_by
        self.takes = 0
        self.removed = 0
        self.on_take: Callable[[int], None] = lambda _n: None

    def take(self, me: Holder) -> Holder | None:
        self.takes += 1
        self.on_take(self.takes)
        if self.record is None:
            self.record = me
        return self.record

    def current(self) -> Holder | None:
        return self.record

    def remove(self) -> None:
        self.removed += 1
        self.record = None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def reporter() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    return Reporter(out), out


def test_a_free_lock_is_held_for_the_block_and_released_after_it() -> None:
    store, (report, _out) = MemoryStore(), reporter()
    with held(store, "staging", "deploy", LockPolicy(), report) as me:
        assert store.record == me and me.command == "deploy" and me.pid > 0 and me.who
    assert store.record is None and store.removed == 1


def test_the_lock_is_released_when_the_command_fails() -> None:
    store, (report, _out) = MemoryStore(), reporter()
    with pytest.raises(RuntimeError), held(store, "staging", "deploy", LockPolicy(), report):
        raise RuntimeError("the apply failed")
    assert store.record is None


def test_a_held_lock_with_no_wait_is_refused_naming_the_holder_and_left_alone() -> None:
    other = holder("alice <alice@example.org>", "t-alice")
    store, (report, _out) = MemoryStore(other), reporter()
    clock = Clock()
    policy = LockPolicy(wait=0)
    with (
        pytest.raises(ConfigError) as refused,
        held(store, "staging", "deploy", policy, report, clock=clock, sleep=clock.sleep),
    ):
        pytest.fail("the block must not run under another holder's lock")
    message = str(refused.value)
    assert message.startswith("staging is locked by deploy by alice <alice@example.org> on ci-runner-7 (pid 4242)")
    assert "since 2026-11-27T09:00:00Z" in message and "lms-staging_deploy_lock" in message
    assert "--break-lock" in message
    assert store.record == other and store.removed == 0 and clock.sleeps == []


def test_a_second_command_waits_until_the_holder_is_done_then_runs() -> None:
    other = holder("bob", "t-bob")
    store, (report, out) = MemoryStore(other), reporter()
    clock = Clock()
    store.on_take = lambda n: setattr(store, "record", None) if n == 4 else None  # bob is done at the 4th ask
    with held(store, "staging", "rollback", LockPolicy(wait=60), report, clock=clock, sleep=clock.sleep) as me:
        assert store.record == me
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert out.getvalue().count("waiting for the deploy lock held by deploy by bob") == 1
    assert store.record is None


def test_waiting_is_bounded_and_says_how_long_it_waited() -> None:
    other = holder("bob", "t-bob")
    store, (report, out) = MemoryStore(other), reporter()
    clock = Clock()
    refused = pytest.raises(ConfigError, match="staging is locked by deploy by bob")
    with refused, held(store, "staging", "deploy", LockPolicy(wait=40), report, clock=clock, sleep=clock.sleep):
        pytest.fail("must not run")
    assert len(clock.sleeps) == 40  # asked once a second for 40 s, then refused
    assert [line for line in out.getvalue().splitlines() if "waiting" in line][-1].endswith("(30 s of at most 40 s)")
    assert store.record == other


def test_break_lock_removes_a_stale_holder_and_says_whose_lock_it_broke() -> None:
    stale = holder("a CI job that was killed", "t-gone")
    store, (report, out) = MemoryStore(stale), reporter()
    with held(store, "staging", "deploy", LockPolicy(wait=0, break_lock=True), report) as me:
        assert store.record == me
    assert "breaking the deploy lock held by deploy by a CI job that was killed" in out.getvalue()
    assert store.removed == 2  # the stale one, then ours


def test_a_lock_broken_and_taken_by_someone_else_meanwhile_is_not_removed_by_the_first_holder() -> None:
    store, (report, _out) = MemoryStore(), reporter()
    newcomer = holder("carol", "t-carol")
    with held(store, "staging", "deploy", LockPolicy(), report):
        store.record = newcomer  # carol ran with --break-lock while we were still applying
    assert store.record == newcomer and store.removed == 0


def test_a_record_that_names_nobody_is_reported_not_waited_on_forever() -> None:
    class Unreadable(MemoryStore):
        def take(self, me: Holder) -> Holder | None:
            self.takes += 1
            return None

    store, (report, _out) = Unreadable(), reporter()
    refused = pytest.raises(ConfigError, match="the deploy lock lms-staging_deploy_lock names no holder")
    with refused, held(store, "staging", "deploy", LockPolicy(), report):
        pytest.fail("must not run")
    assert store.takes == 4


def test_holder_records_round_trip_and_garbage_decodes_to_nobody() -> None:
    me = holder("dave", "t-dave")
    assert Holder.decode(me.encode()) == me
    assert Holder.decode("") is None and Holder.decode("{}") is None and Holder.decode('{"pid": "x"}') is None


# --- the stores, against an adapter that answers as the engine does ------------------------------


class Engine(Docker):
    """Swarm configs and local volumes as the engine keeps them; every call's argv recorded."""

    def __init__(self) -> None:
        super().__init__("docker")
        self.calls: list[list[str]] = []
        self.configs: dict[str, bytes] = {}
        self.volumes: dict[str, dict[str, str]] = {}

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result:
        argv = list(args)
        self.calls.append(argv)
        out, err, code = self._answer(argv, input_bytes)
        result = proc.Result(["docker", *argv], code, out, err)
        if check and code != 0:
            raise CommandError(result.argv, code, result.output)
        return result

    def _answer(self, argv: list[str], data: bytes | None) -> tuple[str, str, int]:
        verb, name = argv[:2], argv[-1]
        if verb == ["config", "create"]:
            name = argv[-2]
            if name in self.configs:
                clash = (
                    f"Error response from daemon: rpc error: code = AlreadyExists desc = config {name} already exists"
                )
                return "", clash, 1
            self.configs[name] = data or b""
            return "id\n", "", 0
        if verb == ["config", "inspect"]:
            if name not in self.configs:
                return "", f"Error: no such config: {name}", 1
            return json.dumps(base64.b64encode(self.configs[name]).decode()), "", 0
        if verb == ["config", "rm"]:
            for gone in argv[2:]:
                self.configs.pop(gone, None)
            return "", "", 0
        if verb == ["volume", "create"]:
            labels = dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "--label")
            self.volumes.setdefault(name, labels)  # created once: a second create keeps the first labels
            return name, "", 0
        if verb == ["volume", "inspect"]:
            if name not in self.volumes:
                return "", f"Error: No such volume: {name}", 1
            return json.dumps(self.volumes[name]), "", 0
        if verb == ["volume", "rm"]:
            for gone in argv[2:]:
                self.volumes.pop(gone, None)
            return "", "", 0
        raise AssertionError(f"unexpected docker call {argv}")


@pytest.mark.parametrize("make", [SwarmLock, ComposeLock], ids=["swarm-config", "compose-volume"])
def test_each_store_gives_the_lock_to_the_first_taker_only(make: Any) -> None:
    engine = Engine()
    store = make(engine, "lms-staging")
    first, second = holder("first", "t-1"), holder("second", "t-2")
    assert store.name == "lms-staging_deploy_lock"
    assert store.current() is None
    assert store.take(first) == first
    assert store.take(second) == first, "the second taker learns who holds it"
    assert store.current() == first
    store.remove()
    assert store.current() is None
    assert store.take(second) == second


def test_the_swarm_lock_is_a_labelled_config_holding_the_holder() -> None:
    engine = Engine()
    SwarmLock(engine, "lms-production").take(holder("erin", "t-erin"))
    create = next(call for call in engine.calls if call[:2] == ["config", "create"])
    assert create == ["config", "create", "--label", f"{LOCK_LABEL}=lms-production", "lms-production_deploy_lock", "-"]
    assert json.loads(engine.configs["lms-production_deploy_lock"])["who"] == "erin"


def test_a_failing_config_create_that_is_not_a_name_clash_is_an_error() -> None:
    class Down(Engine):
        def _answer(self, argv: list[str], data: bytes | None) -> tuple[str, str, int]:
            return "", "Error response from daemon: This node is not a swarm manager.", 1

    with pytest.raises(CommandError, match="not a swarm manager"):
        SwarmLock(Down(), "lms-staging").take(holder("frank", "t-frank"))
