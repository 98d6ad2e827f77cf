"""What an image was built from, baked in at build time and served by /version.

The build stage runs `python3 -m lms_runtime.buildinfo SERVICE PATH` with BUILD_VERSION,
BUILD_REVISION and BUILD_TIME in its environment (lmsops passes them as build args).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

BUILD_INFO = Path("/srv/build-info.json")


def read(service: str, path: Path = BUILD_INFO) -> dict[str, str]:
    """The baked build info; outside an image (unit tests, a laptop) it says so instead."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"service": service, "version": "unbuilt", "revision": "unknown", "built": "unknown"}
    return {key: str(data.get(key, "unknown")) for key in ("service", "version", "revision", "built")}


def write(service: str, path: Path) -> None:
    info = {
        "service": service,
        "version": os.environ.get("BUILD_VERSION", "unknown"),
        "revision": os.environ.get("BUILD_REVISION", "unknown"),
        "built": os.environ.get("BUILD_TIME", "unknown"),
    }
    path.write_text(json.dumps(info, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python3 -m lms_runtime.buildinfo SERVICE PATH")
    write(sys.argv[1], Path(sys.argv[2]))
