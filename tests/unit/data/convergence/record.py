"""Regenerate the Swarm JSON the convergence unit tests read (tests/unit/test_swarm_convergence.py).

Needs a swarm on the local engine (`docker swarm init --advertise-addr 127.0.0.1`) and the OS root
image lmsops bootstraps (`python -m lmsops bootstrap --offline`). From the repository root:

    .nox/unit-target-engine/bin/python tests/unit/data/convergence/record.py

It runs one throwaway service (stack label `lmsrec`, removed at the end) through the moments the
convergence watch must tell apart, and writes, for each, the stack's services and tasks as
`docker service inspect` / `docker inspect` return them:
  converged        2 tasks running the first spec, healthy, no update under way
  updating         an update (new environment variable) under way, start-first
  updated          that update completed
  rollback_started an update whose tasks never get healthy, Swarm rolling it back
  rollback_done    that rollback completed: the previous spec runs again
  restarting       a spec whose container exits at once: tasks failing and being replaced
Each moment is waited for (its state read back from the engine), never slept for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.paths import find_repo
from lmsops.core.swarmapi import running_task
from lmsops.images.versions import load_versions

HERE = Path(__file__).parent
STACK = "lmsrec"
SERVICE = f"{STACK}_web"


def wait_for(what: str, ready: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"record: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.2)


def reading(docker: Docker) -> dict[str, Any]:
    return {"services": docker.stack_services(STACK), "tasks": docker.stack_tasks(STACK)}


def update_state(docker: Docker) -> str:
    services = docker.stack_services(STACK)
    return str((services[0].get("UpdateStatus") or {}).get("State", "")) if services else ""


def running(docker: Docker) -> int:
    return sum(1 for t in docker.stack_tasks(STACK) if running_task(t))


def main() -> None:
    docker = Docker()
    image = load_versions(find_repo()).os.reference
    recorded: dict[str, Any] = {"service": SERVICE, "image": image}
    docker.run("service", "rm", SERVICE, check=False)
    try:
        docker.run(
            "service", "create", "--detach", "--name", SERVICE, "--label", f"com.docker.stack.namespace={STACK}",
            "--replicas", "2", "--health-cmd", "true", "--health-interval", "1s", "--health-start-period", "1s",
            "--update-order", "start-first", "--update-failure-action", "rollback", "--update-monitor", "3s",
            "--rollback-order", "start-first", "--restart-delay", "1s", image, "sleep", "infinity",
        )  # fmt: skip
        wait_for("two running tasks", lambda: running(docker) == 2)
        recorded["converged"] = reading(docker)

        docker.run("service", "update", "--detach", "--env-add", "LMS_STEP=2", SERVICE)
        wait_for("an update under way", lambda: update_state(docker) == "updating")
        recorded["updating"] = reading(docker)
        wait_for("the update completed", lambda: update_state(docker) == "completed")
        recorded["updated"] = reading(docker)

        docker.run("service", "update", "--detach", "--health-cmd", "false", "--health-retries", "1", SERVICE)
        wait_for("a rollback under way", lambda: update_state(docker) == "rollback_started")
        recorded["rollback_started"] = reading(docker)
        wait_for("the rollback completed", lambda: update_state(docker) == "rollback_completed")
        recorded["rollback_done"] = reading(docker)

        # No health check and no rollback: a container that exits at once is restarted for ever.
        docker.run(
            "service", "update", "--detach", "--update-failure-action", "continue", "--no-healthcheck",
            "--args", "false", SERVICE,
        )  # fmt: skip
        wait_for(
            "failed tasks being replaced",
            lambda: sum(1 for t in docker.stack_tasks(STACK) if t.get("Status", {}).get("State") == "failed") >= 2,
        )
        recorded["restarting"] = reading(docker)
    finally:
        docker.run("service", "rm", SERVICE, check=False)
    path = HERE / "swarm.json"
    path.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
