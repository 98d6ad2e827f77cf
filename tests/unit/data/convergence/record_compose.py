"""Regenerate the Compose JSON the Compose target's unit tests read (tests/unit/test_compose_target.py).

Needs the local engine, Compose v2 and the OS root image lmsops bootstraps
(`python -m lmsops bootstrap --offline`). From the repository root:

    .nox/integration/bin/python tests/unit/data/convergence/record_compose.py

It runs one throwaway Compose project (`lmsreccompose`, removed at the end, volumes included) through
the moments a Compose deploy must tell apart, with the `up` deploy_compose runs, and writes for each
the project's `docker compose ps --all --format json` output as the engine prints it (and, for an
`up`, its exit code and stderr):
  empty     before the first deploy: no containers
  up        web (with a health check) healthy, worker (none) running
  updated   web's environment changed: web recreated (a new container ID), worker left alone
  failed    web's health check fails and worker exits at once: `up --wait` fails
  rollback  the `updated` file deployed again over the failed one: healthy again
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from lmsops.core.docker import Docker
from lmsops.core.paths import find_repo
from lmsops.images.versions import load_versions

HERE = Path(__file__).parent
PROJECT = "lmsreccompose"
# What lmsops.targets.compose.deploy_compose runs (a shorter wait: every moment settles in seconds).
UP = ("up", "--detach", "--wait", "--wait-timeout", "60", "--remove-orphans", "--no-build", "--pull", "never")


def project_file(folder: Path, name: str, image: str, step: int, broken: bool = False) -> Path:
    health = ["CMD", "false"] if broken else ["CMD", "true"]
    services = {
        "web": {
            "image": image, "init": True, "command": ["sleep", "infinity"],
            "environment": {"LMS_STEP": str(step)},
            "healthcheck": {"test": health, "interval": "1s", "timeout": "1s", "retries": 1, "start_period": "0s"},
        },
        "worker": {"image": image, "init": True, "command": ["false"] if broken else ["sleep", "infinity"]},
    }  # fmt: skip
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"services": services}, sort_keys=True))
    return path


def ps(docker: Docker) -> str:
    return docker.compose(PROJECT, [], None, "ps", "--all", "--format", "json", check=False).stdout


def up(docker: Docker, path: Path) -> dict[str, Any]:
    result = docker.compose(PROJECT, [path], None, *UP, check=False)
    return {"returncode": result.returncode, "stderr": result.stderr, "ps": ps(docker)}


def main() -> None:
    docker = Docker()
    image = load_versions(find_repo()).os.reference
    recorded: dict[str, Any] = {"project": PROJECT, "image": image}
    docker.compose(PROJECT, [], None, "down", "--remove-orphans", "--volumes", check=False)
    try:
        with tempfile.TemporaryDirectory() as folder:
            first = project_file(Path(folder), "first", image, 1)
            second = project_file(Path(folder), "second", image, 2)
            broken = project_file(Path(folder), "broken", image, 3, broken=True)
            recorded["empty"] = {"ps": ps(docker)}
            recorded["up"] = up(docker, first)
            recorded["updated"] = up(docker, second)
            recorded["failed"] = up(docker, broken)
            recorded["rollback"] = up(docker, second)
    finally:
        docker.compose(PROJECT, [], None, "down", "--remove-orphans", "--volumes", check=False)
    for moment in ("up", "updated", "rollback"):
        if recorded[moment]["returncode"] != 0:
            raise SystemExit(f"record: `up` of the moment {moment} failed: {recorded[moment]['stderr']}")
    if recorded["failed"]["returncode"] == 0:
        raise SystemExit("record: the broken project deployed; the moment `failed` was not recorded")
    path = HERE / "compose.json"
    path.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
