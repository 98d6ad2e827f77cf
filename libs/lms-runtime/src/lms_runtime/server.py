"""Starting a service: validate settings (one line and exit 2 when invalid), log JSON, run uvicorn
(one process per CPU the container may use: lms_runtime.workers)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import uvicorn
from fastapi import FastAPI

from lms_runtime.drain import Drain, DrainingServer
from lms_runtime.logs import configure_logging
from lms_runtime.settings import ServiceSettings, SettingsError, load_settings
from lms_runtime.workers import default_workers, run_workers

S = TypeVar("S", bound=ServiceSettings)
EXIT_CONFIG = 2
EXIT_STARTUP_FAILED = 3  # uvicorn's own code when the app's startup fails


def serve(service: str, settings_cls: type[S], app_factory: Callable[[S], FastAPI]) -> NoReturn:
    try:
        settings = load_settings(settings_cls)
    except SettingsError as exc:
        print(f"{service}: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    configure_logging(service, settings.log_level)
    workers = settings.workers or default_workers()
    if workers == 1:
        server = _server(app_factory(settings), settings)
        server.run()
        sys.exit(0 if server.started else EXIT_STARTUP_FAILED)

    def run_one(sock: socket.socket) -> int:  # in a forked worker: its own app, engine and pool
        server = _server(app_factory(settings), settings)
        server.run(sockets=[sock])
        return 0 if server.started else EXIT_STARTUP_FAILED

    sys.exit(run_workers(workers, settings.port, run_one))


def _server(app: FastAPI, settings: ServiceSettings) -> DrainingServer:
    # SIGTERM first drains for drain_seconds (lms_runtime.drain); then uvicorn stops accepting, lets
    # in-flight requests finish for up to shutdown_timeout seconds and runs the app's shutdown.
    drain = getattr(app.state, "drain", None)  # set by create_app; an app built otherwise still drains
    if not isinstance(drain, Drain):
        drain = Drain()
    return DrainingServer(_config(app, settings), drain, settings.drain_seconds)


def _config(app: FastAPI, settings: ServiceSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host="0.0.0.0",  # noqa: S104 - inside its container; published ports decide the exposure
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
    )
