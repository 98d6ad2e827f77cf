"""Steady, bounded load through an environment's gateway while a scenario runs.

httpx's asyncio client, chosen over locust: one event loop in a thread drives every client, each
with its own keep-alive connection (like separate users), a per-request timeout and a fixed pace,
and nothing is monkey-patched (locust runs on gevent and patches the standard library of the
process that also runs lmsops's docker calls). The mix is the LMS's own: pages of courses, one
course, a course's enrollments (reads), new courses with their modules and new enrollments
(writes). Every answer is kept: its method, status or kind of failure, latency and, for an
acknowledged write, what was created, so a run can check afterwards that no acknowledged write
was lost and none half-applied.

Bounded: a run stops at its deadline or its request budget, whichever comes first, and only talks
to the gateway addresses it is given (loopback, or the project's own nodes on its own network).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

MODULES_PER_COURSE = 3  # a course is created with its modules in one transaction: all or none
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
REQUEST_TIMEOUT = 10.0  # seconds: a request that takes longer counts as a timeout
CONNECT_TIMEOUT = 3.0


@dataclass(frozen=True)
class Outcome:
    sent: float  # monotonic time the request was sent
    method: str
    path: str  # the route, without ids: /catalog/courses/{id}
    kind: str  # "ok", "status 503", "connection error", "timeout"
    latency: float  # seconds
    body: str = ""  # the start of a failed answer's body (what a user would see)


@dataclass(frozen=True)
class Created:
    kind: str  # "course" or "enrollment"
    id: int
    code: str  # a course's code (the run's prefix): how an unacknowledged write is found afterwards


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    acknowledged: list[Created] = field(default_factory=list)
    attempted_codes: list[str] = field(default_factory=list)  # every course code a POST was sent for
    client_retries: int = 0  # idempotent requests sent again after a keep-alive close (see Load._send)

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.sent <= end]


@dataclass(frozen=True)
class LoadShape:
    clients: int = 4
    per_client_rate: float = 20.0  # requests per second per client
    write_share: int = 5  # one request in write_share is a write
    max_seconds: float = 600.0  # the run's hard bounds
    max_requests: int = 60_000


def classify(response: httpx.Response | None, error: BaseException | None) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if error is not None:  # refused, reset, closed mid-answer: no usable answer
        return "connection error"
    assert response is not None
    return "ok" if 200 <= response.status_code < 300 else f"status {response.status_code}"


class Load:
    """Start it, run a scenario, stop it: `with Load(bases, shape, seed_course, prefix) as load:`."""

    def __init__(self, bases: Sequence[str], shape: LoadShape, seed_course: int, prefix: str) -> None:
        if not bases or any(not base.startswith("http://") for base in bases):
            raise ValueError(f"gateway addresses must be http:// URLs, not {list(bases)}")
        self.bases, self.shape, self.seed_course, self.prefix = list(bases), shape, seed_course, prefix
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lmsops-load", daemon=True)
        self._counter = itertools.count(1)
        self._preferred = 0  # the base that answered last
        self.error: BaseException | None = None

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        self._thread.join()
        return self.result

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def answered(self, since: float) -> int:
        """Requests answered ok since a moment (a scenario waits for some before and after)."""
        return sum(1 for o in list(self.result.outcomes) if o.sent >= since and o.kind == "ok")

    # -- the event loop's side ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by the scenario runner, never swallowed
            self.error = exc

    async def _main(self) -> None:
        deadline = time.monotonic() + self.shape.max_seconds
        await asyncio.gather(*(self._client(number, deadline) for number in range(self.shape.clients)))

    async def _client(self, number: int, deadline: float) -> None:
        timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        pace = 1.0 / self.shape.per_client_rate
        async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:
            for step in itertools.count(number):  # clients start at different points of the mix
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                if len(self.result.outcomes) >= self.shape.max_requests:
                    return
                started = time.monotonic()
                await self._one(client, step)
                await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))

    async def _one(self, client: httpx.AsyncClient, step: int) -> None:
        if step % self.shape.write_share == 0:
            n = next(self._counter)
            if n % 2:
                code = f"{self.prefix}{n}"
                self.result.attempted_codes.append(code)
                modules = [{"title": f"Module {i}"} for i in range(1, MODULES_PER_COURSE + 1)]
                body: dict[str, object] = {"code": code, "title": f"Resilience {n}", "modules": modules}
                await self._request(client, "POST", "/catalog/courses", body, ("course", code))
            else:
                body = {"learner_id": f"{self.prefix}-{n}", "course_id": self.seed_course}
                await self._request(client, "POST", "/enrollment/enrollments", body, ("enrollment", ""))
            return
        reads = (
            ("/catalog/courses?limit=5", "/catalog/courses"),
            (f"/catalog/courses/{self.seed_course}", "/catalog/courses/{id}"),
            (f"/enrollment/enrollments?course_id={self.seed_course}&limit=5", "/enrollment/enrollments"),
        )
        path, route = reads[step % len(reads)]
        await self._request(client, "GET", path, None, None, route)

    async def _send(self, client: httpx.AsyncClient, method: str, url: str, body: object) -> httpx.Response:
        """One request, as browsers and HTTP libraries send it: an idempotent request whose reused
        keep-alive connection was closed before any answer is sent again once, on a new connection
        (RFC 9112, 9.3.1). Such a close happens when the gateway reloads while the request was on its
        way. Counted apart (client_retries), never hidden; a write is never sent twice."""
        try:
            return await client.request(method, url, json=body)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            if method not in IDEMPOTENT:
                raise
            self.result.client_retries += 1
            return await client.request(method, url, json=body)

    async def _request(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        body: object,
        creates: tuple[str, str] | None,
        route: str | None = None,
    ) -> None:
        sent = time.monotonic()
        response: httpx.Response | None = None
        error: BaseException | None = None
        # Several nodes: start with the one that answered last, and go to the next one when a node
        # cannot be connected to (refused, or no answer at all: a stopped node). Nothing was sent
        # then, so it is safe for any method: what the load balancer in front of a swarm does.
        for offset in range(len(self.bases)):
            index = (self._preferred + offset) % len(self.bases)
            try:
                response = await self._send(client, method, self.bases[index] + path, body)
                error = None
                self._preferred = index
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = exc
            except httpx.HTTPError as exc:
                error = exc
                break
        kind = classify(response, error)
        text = "" if kind == "ok" or response is None else response.text[:200]
        if error is not None:
            text = f"{type(error).__name__}: {error}"[:200]
        self.result.outcomes.append(Outcome(sent, method, route or path, kind, time.monotonic() - sent, text))
        if kind == "ok" and creates is not None and response is not None:
            created = response.json()
            self.result.acknowledged.append(Created(creates[0], int(created["id"]), creates[1]))
