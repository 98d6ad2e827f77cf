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

from lms_runtime.app import ReadinessCheck, create_app
from lms_runtime.serve import serve
from lms_runtime.settings import ServiceSettings, SettingsError, load_settings

__all__ = ["ReadinessCheck", "ServiceSettings", "SettingsError", "create_app", "load_settings", "serve"]
