"""The runtime contract shared by every LMS Python service.

- settings from LMS_* variables, validated at start; secrets from files (LMS_<NAME>_FILE)
- JSON logs on stdout with a request id
- /healthz (alive), /readyz (dependencies reachable), /version (what was built, from which commit)
- graceful shutdown on SIGTERM: a drain (still serving, /readyz 503), then in-flight requests complete
- 503 "the database is unavailable" when the database is, never a 500 or a hang (and 503 "read-only
  for maintenance" for a write while a restore holds the database read-only)
- schema migrations with Alembic (lms_runtime.migrations, `python -m lms_runtime.migrate`): applied by
  a one-off job before traffic, never by the app, which waits for its schema (docs/migrations.md)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

# Each name is imported from its module on first use: `import lms_runtime.migrate` (a migration job)
# then loads neither FastAPI nor uvicorn, which `from lms_runtime import serve` (a service) does.
# No module is named like one of these names (serve() is in lms_runtime.server): importing such a
# module would bind its name on the package to the module instead.
_WHERE = {
    "ReadinessCheck": "lms_runtime.app",
    "create_app": "lms_runtime.app",
    "serve": "lms_runtime.server",
    "ServiceSettings": "lms_runtime.settings",
    "SettingsError": "lms_runtime.settings",
    "load_settings": "lms_runtime.settings",
}
__all__ = ["ReadinessCheck", "ServiceSettings", "SettingsError", "create_app", "load_settings", "serve"]

if TYPE_CHECKING:
    from lms_runtime.app import ReadinessCheck, create_app
    from lms_runtime.server import serve
    from lms_runtime.settings import ServiceSettings, SettingsError, load_settings


def __getattr__(name: str) -> object:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value  # found once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
