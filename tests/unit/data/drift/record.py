"""Regenerate the engine JSON the drift unit tests read, from a real engine.

Deploy first (`nox -s deploy -- dev` and `nox -s deploy -- staging`, the LMSOPS_STAGING_* secrets
exported), then run `.nox/unit-target-engine/bin/python tests/unit/data/drift/record.py` from the
repository root. It writes, per environment, what lmsops renders as declared and what the engine
reports as running; secret values never appear in either (Swarm specs carry secret names only). It
also writes the engine's own version document (version.json), which the unit tests' fake engine
serves to the docker client (tests/unit/test_drift_render.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.paths import find_repo
from lmsops.drift.compare import model_file
from lmsops.drift.compose import PROJECT_LABEL
from lmsops.drift.render import render_compose, render_swarm
from lmsops.environments.model import resolve

HERE = Path(__file__).parent


def _write(name: str, data: Any) -> None:
    (HERE / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {HERE / name}")


def record_swarm(docker: Docker, env: str) -> None:
    model = resolve(find_repo(), docker, env)
    rendered = render_swarm(docker, model, model_file(model)).specs
    services = docker.stack_services(model.project)
    ids = sorted({n["Target"] for s in services for n in s["Spec"]["TaskTemplate"].get("Networks") or []})
    running = {str(s["Spec"]["Name"]).removeprefix(f"{model.project}_"): s["Spec"] for s in services}
    _write("swarm.json", {"rendered": rendered, "running": running, "networks": docker.network_names(ids)})


def record_compose(docker: Docker, env: str) -> None:
    model = resolve(find_repo(), docker, env)
    rendered = render_compose(docker, model, model_file(model))
    running = {
        str(c["Name"]).lstrip("/"): {key: c[key] for key in ("Id", "Name", "Image", "Config", "HostConfig", "State")}
        | {"NetworkSettings": {"Networks": c["NetworkSettings"]["Networks"]}}
        for c in docker.inspect_containers(f"{PROJECT_LABEL}={model.project}")
    }
    images = {ref: {"Id": doc["Id"], "Config": doc["Config"]} for ref, doc in rendered.images.items()}
    logging_driver, runtime, cgroup_version = docker.engine_defaults()
    engine = {"logging_driver": logging_driver, "runtime": runtime, "cgroup_version": cgroup_version}
    _write("compose.json", {"rendered": rendered.specs, "running": running, "images": images, "engine": engine})


def record_version(docker: Docker) -> None:
    """What GET /version answers (read only: nothing needs to be deployed)."""
    _write("version.json", docker.server_version())


if __name__ == "__main__":
    engine = Docker()
    record_version(engine)
    record_compose(engine, sys.argv[1] if len(sys.argv) > 1 else "dev")
    record_swarm(engine, sys.argv[2] if len(sys.argv) > 2 else "staging")
