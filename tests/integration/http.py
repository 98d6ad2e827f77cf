"""A tiny JSON-over-HTTP client for the tests (standard library only; loopback URLs only)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any


def call(method: str, url: str, body: object | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"tests call loopback only, not {url}")
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback http
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw) if raw else None


def wait_for(method: str, url: str, expected: int, timeout: float = 60.0) -> Any:
    """Call until the status is the expected one; fail with the last answer otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = call(method, url)
        except OSError as exc:
            status, body = -1, str(exc)
        if status == expected:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{method} {url}: still {status} {body!r} after {timeout} s")
        time.sleep(0.5)
