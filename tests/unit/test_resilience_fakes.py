"""Helpers of the resilience unit tests (no tests here): a tiny LMS API on loopback.

FakeLms plays the gateway of an LMS for lmsops.resilience.load and lmsops.resilience.run: courses
with their modules, enrollments, pages of both. A mode makes it answer 503 with a JSON body, close
the connection without answering, or answer later than a test's timeout.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SLOW_SECONDS = 5.0  # how long a "slow" answer waits at most (a test's teardown releases it sooner)


class FakeLms:
    def __init__(self) -> None:
        # "ok", "503", "close" (no answer at all), "slow" (answers after SLOW_SECONDS), "no id" (a POST's
        # 201 without the id of what it created)
        self.mode = "ok"
        self.fail_first = 0  # answer 503 to this many requests first, whatever the mode
        self.unavailable = 0  # how many 503 it answered
        self.courses: dict[int, dict[str, Any]] = {}
        self.enrollments: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path with query) as received
        self.release = threading.Event()
        self.url = ""
        self._lock = threading.Lock()
        self._course_ids = itertools.count(1)
        self._enrollment_ids = itertools.count(1)

    def add_course(self, code: str, modules: int = 3) -> int:
        with self._lock:
            course_id = next(self._course_ids)
            self.courses[course_id] = {
                "id": course_id,
                "code": code,
                "title": code,
                "modules": [{"id": i, "title": f"Module {i}"} for i in range(1, modules + 1)],
            }
        return course_id

    def posted(self) -> int:
        return sum(1 for method, _ in self.requests if method == "POST")

    def answer(self, method: str, target: str, raw: bytes) -> tuple[int, object] | None:
        """(status, JSON body), or None to close the connection without an answer."""
        with self._lock:
            self.requests.append((method, target))
            number = len(self.requests)
        if number <= self.fail_first or self.mode == "503":
            with self._lock:
                self.unavailable += 1
            return 503, {"detail": "database unavailable"}
        if self.mode == "close":
            return None
        if self.mode == "no id" and method == "POST":
            return 201, {"created": True}
        if self.mode == "slow":
            self.release.wait(SLOW_SECONDS)
        url = urlsplit(target)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        body: Any = json.loads(raw) if raw else None
        if method == "POST" and url.path == "/catalog/courses":
            course_id = self.add_course(str(body["code"]), len(body.get("modules", [])))
            return 201, self.courses[course_id]
        if method == "POST" and url.path == "/enrollment/enrollments":
            with self._lock:
                enrollment = {"id": next(self._enrollment_ids), **body}
                self.enrollments[enrollment["id"]] = enrollment
            return 201, enrollment
        if method == "GET" and parts[:2] == ["catalog", "courses"]:
            return self._get(self.courses, parts, query, lambda _item: True)
        if method == "GET" and parts[:2] == ["enrollment", "enrollments"]:
            wanted = query.get("course_id")
            return self._get(self.enrollments, parts, query, lambda e: wanted is None or str(e["course_id"]) == wanted)
        return 404, {"detail": "no such route"}

    @staticmethod
    def _get(
        table: dict[int, dict[str, Any]],
        parts: list[str],
        query: dict[str, str],
        keep: Callable[[dict[str, Any]], bool],
    ) -> tuple[int, object]:
        if len(parts) == 3:
            item = table.get(int(parts[2]))
            return (200, item) if item is not None else (404, {"detail": "not found"})
        items = [item for _, item in sorted(table.items()) if keep(item)]
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 20))
        return 200, {"items": items[offset : offset + limit], "total": len(items)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, lms: FakeLms) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lms = lms

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and left: a broken pipe on a late answer is expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the gateway
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall between them

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        server = self.server
        assert isinstance(server, _Server)
        answer = server.lms.answer(method, self.path, raw)
        if answer is None:
            self.close_connection = True
            return
        status, body = answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving() -> Iterator[FakeLms]:
    """A FakeLms on 127.0.0.1, an ephemeral port, for the duration of the block."""
    lms = FakeLms()
    server = _Server(lms)
    lms.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield lms
    finally:
        lms.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def refused() -> Iterator[str]:
    """An http:// address on loopback that refuses connections (a port bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until condition() holds; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {condition}")
        time.sleep(0.01)
