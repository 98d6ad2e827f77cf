"""Draining on SIGTERM: keep serving for a moment, so that the gateway stops sending here first.

Swarm and Compose send SIGTERM the moment they replace a task, while the gateway (HAProxy)
may still hold this task's address from a DNS answer (kept 1 s) or a connection to it.
uvicorn alone stops accepting at once: requests already on their way here would fail. So the first
SIGTERM (or SIGINT) starts a drain instead: for drain_seconds the service keeps accepting and
answering, /readyz says 503 "draining" and every response carries `Connection: close` (the gateway
then drops each pooled connection to this task after its next answer instead of reusing it). Then
uvicorn's graceful shutdown follows: stop accepting, let in-flight requests finish (up to
shutdown_timeout), run the app's shutdown.
"""

from __future__ import annotations

import logging
import time
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("lms.runtime")


class Drain:
    """Whether this process is draining: the server sets it, the app reads it (app.state.drain)."""

    def __init__(self) -> None:
        self.draining = False


class CloseWhileDraining:
    """ASGI middleware: `Connection: close` on every response that starts while draining (also on
    requests that arrived before the drain: their connection is not reused either)."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                # uvicorn closes the connection after a response that says so (h11 and httptools).
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message["headers"] = [*headers, (b"connection", b"close")]
            await send(message)

        await self.app(scope, receive, send_closing)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM or SIGINT starts a drain of drain_seconds; uvicorn's own
    graceful shutdown follows it. A second signal during the drain ends it at once (uvicorn's own
    handling from then on: one more SIGINT forces the exit, as with plain uvicorn)."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds
        self._drain_signal: int | None = None
        self._drain_ends = 0.0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: it interrupts the event loop anywhere, so it only records the signal;
        # on_tick (on the loop, every 0.1 s) starts and ends the drain. A signal during the app's
        # startup drains too once it serves: a worker's socket (lms_runtime.workers) is bound, and
        # gets connections, before its app has started.
        if self._drain_signal is not None or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)  # a second signal: stop now, as uvicorn would
            return
        self._drain_signal = sig

    async def on_tick(self, counter: int) -> bool:
        if self._drain_signal is not None and not self.should_exit:
            now = time.monotonic()
            if not self.drain.draining:
                self.drain.draining = True
                self._drain_ends = now + self.drain_seconds
                log.info("draining for %.1f s before shutting down: /readyz answers 503", self.drain_seconds)
            elif now >= self._drain_ends:
                # uvicorn's exit, with the original signal: it re-raises it once shut down.
                super().handle_exit(self._drain_signal, None)
        return await super().on_tick(counter)
