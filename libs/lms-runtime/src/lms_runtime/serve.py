"""Starting a service: validate settings (one line and exit 2 when invalid), log JSON, run uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import uvicorn
from fastapi import FastAPI

from lms_runtime.logs import configure_logging
from lms_runtime.settings import ServiceSettings, SettingsError, load_settings

S = TypeVar("S", bound=ServiceSettings)
EXIT_CONFIG = 2


def serve(service: str, settings_cls: type[S], app_factory: Callable[[S], FastAPI]) -> NoReturn:
    try:
        settings = load_settings(settings_cls)
    except SettingsError as exc:
        print(f"{service}: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    configure_logging(service, settings.log_level)
    app = app_factory(settings)
    # uvicorn handles SIGTERM (tini forwards it): it stops accepting, lets in-flight requests
    # finish for up to shutdown_timeout seconds, then runs the app's shutdown.
    uvicorn.run(
        app,
        host="0.0.0.0",  # noqa: S104 - inside its container; published ports decide the exposure
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
    )
    sys.exit(0)
