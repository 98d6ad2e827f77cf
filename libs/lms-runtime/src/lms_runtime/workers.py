"""Several uvicorn processes behind one listening socket: a service uses the cores it is given.

Not uvicorn's own `workers=`: it spawns fresh interpreters, which re-run the service's
`python -m app` entry module, and it binds its socket without the TCP protocol number, so asyncio
never sets TCP_NODELAY on the accepted connections and every keep-alive response waits for the
client's delayed ACK (measured: /healthz at ~44 ms p50 instead of ~5 ms).

Here the supervisor binds one TCP socket per worker on the service's port (SO_REUSEPORT: the
kernel spreads new connections over them), forks the workers before any app, thread or database
connection exists, and stays their parent: SIGTERM and SIGINT go to every worker (each drains, then
lets its in-flight requests finish, as a single process does: lms_runtime.drain). A worker that
exits on its own stops the others and the service exits with that worker's code: Docker's restart
policy sees one failed service, never a service that serves with part of its workers.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from types import FrameType

log = logging.getLogger("lms.workers")
MAX_DEFAULT_WORKERS = 4
BACKLOG = 2048  # uvicorn's default
_FORWARDED = (signal.SIGTERM, signal.SIGINT)


def default_workers(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """One per CPU the process may use: its cgroup quota when set (cpus: 0.5 is one), else its CPUs."""
    cores = len(os.sched_getaffinity(0))
    quota = _cpu_quota(cgroup)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


def _cpu_quota(cgroup: Path) -> float | None:
    """The container's CPU limit in CPUs (`cpus:` / `--cpus`), or None when it has none.

    cgroup v2: `cpu.max` holds "QUOTA PERIOD" or "max PERIOD". cgroup v1 (Debian's docker.io on
    these machines): `cpu/cpu.cfs_quota_us` (-1: no limit) and `cpu/cpu.cfs_period_us`."""
    try:
        if (cgroup / "cpu.max").exists():
            quota, period = (cgroup / "cpu.max").read_text().split()
            return None if quota == "max" else int(quota) / int(period)
        v1_quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        v1_period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
        return None if v1_quota <= 0 else v1_quota / v1_period
    except (OSError, ValueError):
        return None  # no limit file, or one this code does not know: the CPUs it may run on


def listening_socket(port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # One socket per worker on the same port: the kernel spreads new connections over them evenly.
    # (With one shared socket the worker that wakes first takes most of them: measured /courses
    # swinging between 300 and 600 req/s with 16 keep-alive clients, one worker busy, one idle.)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("0.0.0.0", port))  # noqa: S104 - inside its container; published ports decide the exposure
    sock.listen(BACKLOG)
    return sock


def run_workers(count: int, port: int, run_one: Callable[[socket.socket], int]) -> int:
    """Fork count workers that each call run_one(socket); return the exit code of the service."""
    sockets = [listening_socket(port) for _ in range(count)]  # all bound before any worker runs
    children: set[int] = set()
    # Signals wait until the handlers below exist: a SIGTERM during the forks reaches everyone.
    signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
    for own in sockets:
        pid = os.fork()
        if pid == 0:
            for other in sockets:
                if other is not own:
                    other.close()
            _worker(own, run_one)
        children.add(pid)
    for sock in sockets:
        sock.close()
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        _signal_all(children, signum)

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
    log.info("serving with %d worker processes", count)
    code = 0
    while children:
        pid, status = os.wait()
        children.discard(pid)
        worker_code = os.waitstatus_to_exitcode(status)
        if stopping:
            continue
        log.error("worker %d exited on its own (code %d); stopping the service", pid, worker_code)
        code = worker_code if worker_code > 0 else 1
        stopping = True
        _signal_all(children, signal.SIGTERM)
    return code


def _worker(sock: socket.socket, run_one: Callable[[socket.socket], int]) -> None:
    for signum in _FORWARDED:
        signal.signal(signum, signal.SIG_DFL)  # uvicorn installs its own once it runs
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
    code = 1
    try:
        code = run_one(sock)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # the supervisor only sees the code: log the cause here
        log.exception("worker failed")
    finally:
        logging.shutdown()
        os._exit(code)


def _signal_all(children: set[int], signum: int) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):  # already exited; os.wait() collects it
            os.kill(pid, signum)
