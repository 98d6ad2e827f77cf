"""Where deploy checks that the gateway serves every routed service (the answers are checked in integration)."""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.errors import DeployError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.environments.config import load_environment
from lmsops.environments.model import Model, model_services
from lmsops.targets import entrypoint
from lmsops.targets.entrypoint import Answer, ask, check_entry_point, local_gateway_url, routed_services
from tests.unit.target_fakes import FakeClock


def model(repo: Repo, env_name: str, gateway: dict[str, Any], context: str | None = None) -> Model:
    env = load_environment(repo, env_name, model_services(repo))
    if context is not None:  # the environment deployed to another engine
        env = dataclasses.replace(
            env, file=env.file.model_copy(update={"target": env.target.model_copy(update={"context": context})})
        )
    return Model(env, [], Path("x"), [], {"services": {"gateway": gateway}}, "")


ROUTED = {"environment": {"LMS_GATEWAY_ROUTES": "catalog=catalog:8001 enrollment=enrollment:8002"}}


def test_the_routes_are_read_from_the_route_table_of_the_resolved_model(project: Repo) -> None:
    assert routed_services(model(project, "dev", ROUTED)) == ["catalog", "enrollment"]
    assert routed_services(model(project, "dev", {})) == []


def test_the_route_table_is_found_on_whichever_service_holds_it(project: Repo) -> None:
    served = model(project, "dev", {"environment": {"LMS_GATEWAY_ROUTES_FROM": "gateway-routes:8080"}})
    served.document["services"]["gateway-routes"] = ROUTED
    assert routed_services(served) == ["catalog", "enrollment"]


@pytest.mark.parametrize(
    ("env_name", "port", "expected"),
    [
        ("dev", {"host_ip": "127.0.0.1", "published": "18080", "target": 8080}, "http://127.0.0.1:18080"),
        ("staging", {"mode": "host", "published": 18081, "target": 8080}, "http://127.0.0.1:18081"),
        ("dev", {"host_ip": "10.1.2.3", "published": "18080", "target": 8080}, None),  # not on loopback
        ("dev", {"target": 8080}, None),  # not published
    ],
)
def test_a_gateway_published_on_this_engine_is_reached_on_loopback(
    project: Repo, monkeypatch: pytest.MonkeyPatch, env_name: str, port: dict[str, Any], expected: str | None
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert local_gateway_url(model(project, env_name, ROUTED | {"ports": [port]})) == expected


def test_a_gateway_on_another_engine_is_not_checked_from_here(project: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    published = ROUTED | {"ports": [{"mode": "host", "published": 18081, "target": 8080}]}
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert local_gateway_url(model(project, "staging", published, context="lmsops-cluster")) is None
    monkeypatch.setenv("DOCKER_HOST", "ssh://deploy@manager")
    assert local_gateway_url(model(project, "staging", published)) is None


def test_only_loopback_is_asked() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        ask("http://10.0.0.1:8080/catalog/readyz")


# -- the check itself, against a gateway stand-in on loopback ----------------------------------------
class Gateway:
    """A web server on 127.0.0.1 answering GET <path> with the next of its answers (the last repeats)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[int, str]]] = {}
        self.asked: list[str] = []
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gateway.asked.append(self.path)
                queue = gateway.answers.get(self.path, [(404, "no route")])
                status, body = queue.pop(0) if len(queue) > 1 else queue[0]
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        # A short poll: shutdown() waits for the serving loop to look again.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    served = Gateway()
    yield served
    served.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The check's time.sleep / time.monotonic: waiting costs nothing, the deadline still holds."""
    fake = FakeClock()
    monkeypatch.setattr(entrypoint, "time", fake)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return fake


def published(repo: Repo, port: int) -> Model:
    return model(repo, "dev", ROUTED | {"ports": [{"host_ip": "127.0.0.1", "published": str(port), "target": 8080}]})


def check(checked: Model, timeout: float = 10) -> tuple[list[str], list[str]]:
    """Run the check; (what it said, whose logs its error named)."""
    out, logs_of = io.StringIO(), []

    def logs(service: str) -> str:
        logs_of.append(service)
        return f"docker compose -p lms-dev logs {service}"

    check_entry_point(checked, Reporter(out), timeout, logs)
    return out.getvalue().splitlines(), logs_of


def test_every_routed_service_ready_through_the_gateway_passes_at_once(
    project: Repo, gateway: Gateway, clock: FakeClock
) -> None:
    gateway.answers = {"/catalog/readyz": [(200, "{}")], "/enrollment/readyz": [(200, "{}")]}
    said, _ = check(published(project, gateway.port))
    assert gateway.asked == ["/catalog/readyz", "/enrollment/readyz"]
    assert said == [f"    gateway: serves catalog, enrollment on http://127.0.0.1:{gateway.port} (0.0 s)"]
    assert clock.sleeps == []


def test_a_service_the_gateway_does_not_serve_yet_is_asked_again_until_it_does(
    project: Repo, gateway: Gateway, clock: FakeClock
) -> None:
    gateway.answers = {"/catalog/readyz": [(502, "no upstream"), (502, "no upstream"), (200, "{}")],
                       "/enrollment/readyz": [(200, "{}")]}  # fmt: skip
    said, _ = check(published(project, gateway.port))
    assert gateway.asked == ["/catalog/readyz"] * 3 + ["/enrollment/readyz"]
    assert clock.sleeps == [0.25, 0.25]
    assert said[-1].endswith("(0.5 s)")


def test_a_service_never_served_fails_the_deploy_with_the_last_answer_and_the_gateways_logs(
    project: Repo, gateway: Gateway, clock: FakeClock
) -> None:
    not_ready = json.dumps({"checks": {"database": "down"}, "status": "not ready"})
    gateway.answers = {"/catalog/readyz": [(200, "{}")], "/enrollment/readyz": [(503, not_ready)]}
    with pytest.raises(DeployError) as failed:
        check(published(project, gateway.port), timeout=2)
    url = f"http://127.0.0.1:{gateway.port}/enrollment/readyz"
    assert str(failed.value) == (
        f"dev: the services run, but the gateway does not serve enrollment: GET {url} answered 503 "
        f"{not_ready} for 2 s; see the gateway's log: docker compose -p lms-dev logs gateway"
    )
    assert 2 < clock.now <= 2.25, "asked until the deadline, not longer"


@pytest.mark.parametrize(
    ("body", "shown"),
    [("Bad Gateway\n", '502 "Bad Gateway"'), ("x" * 500, '502 "' + "x" * 199)],  # text quoted, cut at 200
)
def test_an_answer_that_is_not_json_is_shown_as_text(
    project: Repo, gateway: Gateway, clock: FakeClock, body: str, shown: str
) -> None:
    gateway.answers = {"/catalog/readyz": [(502, body)]}
    with pytest.raises(DeployError) as failed:
        check(published(project, gateway.port), timeout=1)
    assert f"answered {shown} for 1 s;" in str(failed.value)


def test_a_gateway_that_does_not_listen_is_named_by_the_connection_error(project: Repo, clock: FakeClock) -> None:
    with socket.socket() as free:  # a loopback port nothing listens on once it is closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(DeployError, match=r"answered URLError: .*Connection refused.* for 1 s"):
        check(published(project, port), timeout=1)


def test_an_environment_without_routes_is_not_checked(
    project: Repo, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entrypoint, "ask", lambda url: pytest.fail(f"asked {url}"))
    assert check(model(project, "dev", {"ports": [{"published": "18080", "target": 8080}]})) == ([], [])


def test_a_gateway_on_another_engine_is_said_to_be_unchecked(
    project: Repo, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entrypoint, "ask", lambda url: pytest.fail(f"asked {url}"))
    remote = model(project, "staging", ROUTED | {"ports": [{"published": 18081, "target": 8080}]}, context="remote")
    said, _ = check(remote)
    assert said == ["    gateway: not checked from here (the gateway is published on another engine)"]


def test_ask_returns_the_status_and_body_of_any_http_answer(gateway: Gateway) -> None:
    gateway.answers = {"/a/readyz": [(200, "ready")], "/b/readyz": [(503, "not ready")]}
    assert ask(f"http://127.0.0.1:{gateway.port}/a/readyz") == Answer(200, "ready")
    assert ask(f"http://127.0.0.1:{gateway.port}/b/readyz") == Answer(503, "not ready")
