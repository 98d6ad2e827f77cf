"""Calling another service: a timeout on every call, retries with exponential backoff."""

from __future__ import annotations

import logging
import time

import httpx

log = logging.getLogger("lms.http")
RETRYABLE_STATUS = {502, 503, 504}


class UpstreamUnavailableError(Exception):
    """The other service did not answer usefully after every retry."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} is unavailable: {reason}")
        self.service = service
        self.reason = reason


def get_with_retries(
    client: httpx.Client, service: str, path: str, *, attempts: int = 3, backoff: float = 0.2
) -> httpx.Response:
    """GET path; retry connection errors, timeouts and 502/503/504 with backoff 0.2 s, 0.4 s, ..."""
    from lms_runtime.logs import REQUEST_ID_HEADER, request_id

    headers = {REQUEST_ID_HEADER: current} if (current := request_id.get()) else {}
    reason = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            response = client.get(path, headers=headers)
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if response.status_code not in RETRYABLE_STATUS:
                return response
            reason = f"HTTP {response.status_code}"
        log.warning("call to %s failed (attempt %d of %d): %s", service, attempt, attempts, reason)
        if attempt < attempts:
            time.sleep(backoff * 2 ** (attempt - 1))
    raise UpstreamUnavailableError(service, reason)
