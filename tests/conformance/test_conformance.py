"""Declared == running, for every service of every environment (discovered from the model).

Every field that differs from the declaration is its own failure (a subtest named after the field);
testinfra then checks from inside what inspect cannot see.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import testinfra
from testinfra.host import Host

from lmsops.core.labels import REVISION
from lmsops.core.swarmapi import running_task
from lmsops.drift.compare import Difference
from lmsops.environments.database_jobs import run_migrate
from lmsops.targets.status import drift_of
from tests.conformance.conftest import Running

_cache: dict[str, list[Difference]] = {}


def differences(running: Running) -> list[Difference]:
    """The comparison engine's findings for this environment, computed once per run."""
    key = running.model.project
    if key not in _cache:
        _cache[key] = drift_of(running.docker, running.model, images=running.images)
    return _cache[key]


def containers(running: Running, service: str) -> list[tuple[str, str]]:
    """(container id, node id) of each running container of service; node '' on Compose."""
    if running.model.env.target.kind == "compose":
        label = f"com.docker.compose.project={running.model.project}"
        found = running.docker.inspect_containers(label)
        mine = [c for c in found if c["Config"]["Labels"].get("com.docker.compose.service") == service]
        return [(str(c["Id"]), "") for c in mine if c["State"]["Running"]]
    tasks = running.docker.service_tasks(f"{running.model.project}_{service}")
    return [
        (str(t["Status"]["ContainerStatus"]["ContainerID"]), str(t.get("NodeID", ""))) for t in tasks if running_task(t)
    ]


@pytest.fixture(autouse=True)
def _node_engine() -> Iterator[None]:
    """host_of may point testinfra's docker CLI at a node's engine; undone after each test."""
    saved = os.environ.get("DOCKER_HOST")
    yield
    if saved is None:
        os.environ.pop("DOCKER_HOST", None)
    else:
        os.environ["DOCKER_HOST"] = saved


def host_of(running: Running, service: str, user: str | None = None) -> Host:
    found = containers(running, service)
    assert found, f"{service}: no running container on this engine"
    container, node = found[0]
    if running.engines.get(node):  # a multi-node swarm: the container lives on that node's engine
        os.environ["DOCKER_HOST"] = running.engines[node]
    return testinfra.get_host(f"docker://{user + '@' if user else ''}{container}")


def declared(running: Running, service: str) -> dict[str, Any]:
    spec: dict[str, Any] = running.model.document["services"][service]
    return spec


def test_declared_equals_running(running: Running, service: str, subtests: pytest.Subtests) -> None:
    """The whole configuration and the state of the service, deny by default (docs/drift.md):
    every differing field is its own failure, named after the field."""
    for difference in [d for d in differences(running) if d.service == service]:
        with subtests.test(msg=difference.path or difference.field):
            pytest.fail(difference.line())


def test_nothing_runs_that_is_not_declared(running: Running) -> None:
    declared_services = set(running.model.services)
    extra = [d for d in differences(running) if d.service not in declared_services]
    assert not extra, "\n".join(d.line() for d in extra)


def test_process_runs_as_the_declared_non_root_user(running: Running, service: str) -> None:
    user = str(declared(running, service).get("user", ""))
    uid = int(user.split(":")[0])
    assert uid != 0
    status = host_of(running, service).file("/proc/1/status").content_string
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert {int(u) for u in uids} == {uid}


def test_listens_on_the_declared_port(running: Running, service: str) -> None:
    image = str(declared(running, service)["image"])
    doc: dict[str, Any] = running.images.image_inspect(image) or {}
    exposed = list((doc.get("Config") or {}).get("ExposedPorts") or {})
    assert exposed, f"{image} declares no port (EXPOSE)"
    port = int(str(exposed[0]).split("/")[0])
    host = host_of(running, service)
    tables = host.file("/proc/net/tcp").content_string + host.file("/proc/net/tcp6").content_string
    listening = {
        int(line.split()[1].rsplit(":", 1)[1], 16) for line in tables.splitlines()[1:] if line.split()[3] == "0A"
    }
    assert port in listening, f"{service} listens on {sorted(listening)}, not on {port}"


def test_can_write_only_where_declared(running: Running, service: str) -> None:
    host = host_of(running, service)
    spec = declared(running, service)
    writable = {str(v["target"]) for v in spec.get("volumes", []) if isinstance(v, dict)}
    assert "/tmp" in writable
    for place in ("/", "/etc", "/usr", "/srv", "/opt", "/home", "/var"):
        if any(place == w for w in writable):
            continue
        assert host.run(f"touch {place}/.lmsops-write-test").rc != 0, f"{service} can write to {place}"
    for place in sorted(writable):
        result = host.run(f"touch {place}/.lmsops-write-test && rm {place}/.lmsops-write-test")
        assert result.rc == 0, f"{service} cannot write to its declared {place}: {result.stderr}"


def test_secrets_are_files_with_restrictive_modes(running: Running, service: str) -> None:
    spec = declared(running, service)
    secrets = spec.get("secrets") or []
    # As the service's own user: root in a container without capabilities may read nothing of it.
    host = host_of(running, service)
    uid = str(spec.get("user", "0")).split(":")[0]
    environ = host.file("/proc/1/environ").content_string.split("\0")
    plain_values = {entry.split("=", 1)[1] for entry in environ if "=" in entry}
    for secret in secrets:
        path = str(secret.get("target") or f"/run/secrets/{secret['source']}")
        file = host.file(path)
        assert file.is_file, f"{path} is missing"
        assert file.mode & 0o022 == 0, f"{path}: mode {file.mode:o} lets others write"
        if running.model.env.target.kind == "swarm":
            assert (file.mode, str(file.uid)) == (0o400, uid), f"{path}: mode {file.mode:o} owner {file.uid}"
        else:
            assert file.uid == 0, f"{path} belongs to uid {file.uid}: the service could change it"
        assert file.content_string.strip() not in plain_values, f"the value of {path} is in a plain variable"


def _get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return int(response.status), json.loads(response.read())


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/version"])
def test_contract_endpoints_through_the_gateway(running: Running, routed: str, path: str) -> None:
    status, body = _get(f"{running.gateway}/{routed}{path}")
    assert status == 200, body


def test_labelled_revision_matches_version(running: Running, versioned: str) -> None:
    service = versioned
    image = str(declared(running, service)["image"])
    revision = running.images.image_labels(image).get(REVISION)
    url = f"{running.gateway}/version" if service == "gateway" else f"{running.gateway}/{service}/version"
    _status, body = _get(url)
    assert body["revision"] == revision


def test_database_schema_is_the_migration_head_of_the_running_image(running: Running, database: str) -> None:
    """The live database against its service's models and migrations (deny by default: Alembic's
    whole comparison; docs/migrations.md). test_declared_equals_running reports the same through
    drift; this proves the check itself ran and answered for every service with a database."""
    result = run_migrate(running.docker, running.model, database, "check", 10)
    answer = result.answer
    assert result.returncode == 0 and answer.get("ok") is True, f"{database}: {answer or result.error}"
    assert answer["differences"] == [] and answer["revision"] == answer["head"], answer
