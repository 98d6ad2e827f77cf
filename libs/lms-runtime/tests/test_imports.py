"""What a process loads: a migration job (`python -m lms_runtime.migrate`, one per database before every
deploy) imports neither FastAPI nor uvicorn, a third of its CPU; a service still gets everything it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).parents[1] / "src"


def loaded_after(statement: str) -> dict[str, bool]:
    """In a fresh interpreter: which of fastapi, uvicorn and starlette the statement imported."""
    report = "print(json.dumps({m: m in sys.modules for m in ('fastapi', 'uvicorn', 'starlette')}))"
    probe = f"import json, sys\n{statement}\n{report}"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(SOURCE)})  # fmt: skip
    return dict(json.loads(result.stdout))


def test_a_migration_job_imports_neither_fastapi_nor_uvicorn() -> None:
    loaded = loaded_after("import lms_runtime.migrate, lms_runtime.migrations\nfrom lms_runtime.db import UTCDateTime")
    assert loaded == {"fastapi": False, "uvicorn": False, "starlette": False}


def test_a_service_gets_what_it_imports_by_name() -> None:
    checks = (
        "from lms_runtime import serve, create_app, ServiceSettings, ReadinessCheck, SettingsError, load_settings\n"
        "import inspect\n"
        "assert inspect.isfunction(serve) and serve.__module__ == 'lms_runtime.server', serve\n"
        "assert inspect.isfunction(create_app), create_app\n"
        "from lms_runtime.db import SessionDep, ReadConnectionDep, DATABASE_DEPENDENCIES\n"
        "from lms_runtime.db import add_database_unavailable_handler, get_session, get_read_connection\n"
        "import lms_runtime\n"
        "assert lms_runtime.serve is serve"
    )
    assert loaded_after(checks)["fastapi"] is True


def test_an_unknown_name_is_an_attribute_error() -> None:
    loaded_after(
        "import lms_runtime, lms_runtime.db\n"
        "for module in (lms_runtime, lms_runtime.db):\n"
        "    try:\n"
        "        module.no_such_name\n"
        "    except AttributeError as error:\n"
        "        assert 'no_such_name' in str(error)\n"
        "    else:\n"
        "        raise SystemExit(1)"
    )
