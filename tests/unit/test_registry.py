"""lmsops.releases.registry: registry addresses (HOST:PORT, which are loopback), how lmsops asks
whether a registry answers, and starting or removing its own loopback registry, with the engine
scripted, the HTTP probe faked and the clock fake (no waiting)."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

import pytest

from lmsops.core import progress
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.releases import registry
from lmsops.releases.registry import answers, is_loopback, registry_down, registry_up, split_address
from tests.unit.adapter_fakes import FakeClock, ScriptedEngine, StubContext, fake_clock, reporter, scripted_engine


class Probe:
    """urllib.request.urlopen for the registry module: each probe is answered from a list (a status
    code, or an exception); the last answer repeats."""

    def __init__(self, *outcomes: int | BaseException) -> None:
        self.outcomes = list(outcomes)
        self.asked: list[tuple[str, float]] = []

    @contextmanager
    def __call__(self, url: str, timeout: float) -> Iterator[object]:
        self.asked.append((url, timeout))
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        yield type("Response", (), {"status": outcome})()


def probe(monkeypatch: pytest.MonkeyPatch, *outcomes: int | BaseException) -> Probe:
    fake = Probe(*outcomes)
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    return fake


def http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://x/v2/", code, "status", Message(), io.BytesIO())


# -- addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "parts"),
    [
        ("127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("ghcr.io:443", ("ghcr.io", 443)),
        ("localhost:5001", ("localhost", 5001)),
        ("ghcr.io/lms", ("ghcr.io", 443)),
        ("registry.example.org:8443/team/lms", ("registry.example.org", 8443)),
    ],
)
def test_an_address_is_host_and_port(address: str, parts: tuple[str, int]) -> None:
    assert split_address(address) == parts


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost/lms", ":5000", "registry:http", "registry:"])
def test_an_address_without_host_and_numeric_port_is_refused_with_an_example(address: str) -> None:
    example = "give HOST\\[:PORT\\]\\[/PATH\\], e.g. 127.0.0.1:5000 or ghcr.io/<org>"
    with pytest.raises(ConfigError, match=f"registry '{address}': {example}"):
        split_address(address)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1:5000", True), ("127.8.9.10:5000", True), ("localhost:5000", True), ("10.0.0.5:5000", False),
     ("192.168.1.2:5000", False), ("ghcr.io:443", False), ("localhost.example.org:5000", False)],
)  # fmt: skip
def test_only_loopback_addresses_are_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


# -- the probe -------------------------------------------------------------------------------------


def test_a_loopback_registry_is_asked_over_http_and_any_other_over_https(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = probe(monkeypatch, 200)
    assert answers("127.0.0.1:5000") and answers("ghcr.io:443", timeout=5)
    assert asked.asked == [("http://127.0.0.1:5000/v2/", 2.0), ("https://ghcr.io:443/v2/", 5)]


@pytest.mark.parametrize(
    ("outcome", "answering"),
    [(200, True), (401, True), (204, False), (http_error(401), True), (http_error(404), False),
     (http_error(503), False), (urllib.error.URLError("refused"), False), (ConnectionResetError(), False),
     (TimeoutError(), False)],
)  # fmt: skip
def test_a_registry_answers_with_200_or_a_request_to_log_in(
    monkeypatch: pytest.MonkeyPatch, outcome: int | BaseException, answering: bool
) -> None:
    probe(monkeypatch, outcome)
    assert answers("127.0.0.1:5000") is answering


def test_a_registry_with_a_namespace_as_the_docs_suggest_is_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    """env/staging.yaml: 'a real one: ghcr.io/<org>'; environments.config's pattern admits HOST[:PORT][/PATH]."""
    probed = probe(monkeypatch, 200)
    assert answers("ghcr.io/lms") is True
    assert [url for url, _timeout in probed.asked] == ["https://ghcr.io:443/v2/"]


# -- registry_up / registry_down -------------------------------------------------------------------


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    return scripted_engine(monkeypatch)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = fake_clock(monkeypatch, registry)
    monkeypatch.setattr(progress, "time", fake)  # the durations it reports (progress.seconds)
    return fake


def test_a_registry_that_answers_is_used_as_it_is(
    monkeypatch: pytest.MonkeyPatch, engine: ScriptedEngine, project: Repo
) -> None:
    probe(monkeypatch, 200)
    report, out = reporter()
    ctx = StubContext(project, Docker(), report)
    registry_up(ctx, "ghcr.io:443")
    assert (engine.calls, ctx.built_only, out.getvalue()) == ([], [], "    registry ghcr.io:443: answering\n")


def test_a_remote_registry_that_does_not_answer_is_refused_not_started(
    monkeypatch: pytest.MonkeyPatch, engine: ScriptedEngine, project: Repo
) -> None:
    probe(monkeypatch, urllib.error.URLError("no route"))
    ctx = StubContext(project, Docker(), reporter()[0])
    with pytest.raises(
        PrerequisiteError, match=r"registry ghcr\.io:443 does not answer; check the address and your login"
    ):
        registry_up(ctx, "ghcr.io:443")
    assert (engine.calls, ctx.built_only) == ([], [])


def container(state: str, health: str | None) -> str:
    """What `docker container inspect --format {{json .}}` says of a container's state."""
    return json.dumps({"State": {"Status": state, **({"Health": {"Status": health}} if health else {})}})


def test_a_free_loopback_port_gets_lmsops_own_registry_built_started_and_waited_for(
    monkeypatch: pytest.MonkeyPatch, engine: ScriptedEngine, clock: FakeClock, project: Repo
) -> None:
    refused = urllib.error.URLError("connection refused")
    asked = probe(monkeypatch, refused, 200)
    for health in ("starting", "starting", "healthy"):
        engine.answer("container", "inspect", stdout=container("running", health))
    report, out = reporter()
    ctx = StubContext(project, Docker(), report)
    registry_up(ctx, "127.0.0.1:5001")
    assert ctx.built_only == [["registry"]], "its image and the bases it builds FROM, nothing else"
    assert engine.verbs == [
        ["rm", "--force", "--volumes", "lmsops-registry"],
        ["run", "--detach", "--name", "lmsops-registry", "--read-only", "--cap-drop", "ALL",
         "--security-opt", "no-new-privileges", "--memory", "256m", "--cpus", "1", "--pids-limit", "128",
         "--restart", "on-failure:5", "--publish", "127.0.0.1:5001:5000",
         "--volume", "lmsops-registry:/var/lib/docker-registry",
         "--label", "org.lmsops.registry=127.0.0.1:5001", "--pull", "never", "lmsops/registry:stub"],
        *[["container", "inspect", "--format", "{{json .}}", "lmsops-registry"]] * 3,
    ]  # fmt: skip
    assert [timeout for _url, timeout in asked.asked] == [2.0, 1.0], "asked over the port once healthy"
    assert clock.sleeps == [0.5, 0.5]
    assert out.getvalue().splitlines() == [
        "    registry 127.0.0.1:5001: lmsops-registry created, waiting for its healthcheck (GET /v2/)",
        "    registry 127.0.0.1:5001: started (lmsops-registry, data on volume lmsops-registry) in 1.0 s",
    ]


def test_a_healthy_registry_is_waited_for_until_its_published_port_answers(
    monkeypatch: pytest.MonkeyPatch, engine: ScriptedEngine, clock: FakeClock, project: Repo
) -> None:
    refused = urllib.error.URLError("connection refused")
    asked = probe(monkeypatch, refused, refused, 200)
    engine.answer("container", "inspect", stdout=container("running", "healthy"))
    registry_up(StubContext(project, Docker(), reporter()[0]), "127.0.0.1:5001")
    assert (len(asked.asked), clock.sleeps) == (3, [0.5])


def test_a_started_registry_that_never_becomes_healthy_fails_after_30_s_in_one_line(
    monkeypatch: pytest.MonkeyPatch, engine: ScriptedEngine, clock: FakeClock, project: Repo
) -> None:
    probe(monkeypatch, urllib.error.URLError("connection refused"))
    engine.answer("container", "inspect", stdout=container("running", "starting"))
    ctx = StubContext(project, Docker(), reporter()[0])
    with pytest.raises(PrerequisiteError) as failed:
        registry_up(ctx, "localhost:5000")
    assert str(failed.value) == (
        "the local registry container lmsops-registry is not healthy on localhost:5000 after 30.5 s "
        "(running, starting); see `docker logs lmsops-registry`"
    )
    assert 30 <= sum(clock.sleeps) < 30.6, "waited 30 s, polling every 0.5 s"


@pytest.mark.parametrize(
    ("state", "health", "shown"),
    [("exited", "unhealthy", "exited, unhealthy"), ("restarting", "unhealthy", "restarting, unhealthy"),
     ("dead", None, "dead")],
)  # fmt: skip
def test_a_registry_that_exits_or_turns_unhealthy_fails_at_once(
    monkeypatch: pytest.MonkeyPatch,
    engine: ScriptedEngine,
    clock: FakeClock,
    project: Repo,
    state: str,
    health: str | None,
    shown: str,
) -> None:
    probe(monkeypatch, urllib.error.URLError("connection refused"))
    engine.answer("container", "inspect", stdout=container(state, health))
    with pytest.raises(PrerequisiteError, match=rf"after 0\.0 s \({shown}\); see `docker logs lmsops-registry`$"):
        registry_up(StubContext(project, Docker(), reporter()[0]), "127.0.0.1:5000")
    assert clock.sleeps == []


def test_without_a_registry_image_in_versions_yaml_nothing_is_started(
    monkeypatch: pytest.MonkeyPatch, engine: ScriptedEngine, repo: Repo
) -> None:
    probe(monkeypatch, urllib.error.URLError("connection refused"))
    ctx = StubContext(repo, Docker(), reporter()[0])  # the scratch repository has no `registry` image
    with pytest.raises(ConfigError, match=r"base-images/versions\.yaml: no image 'registry'"):
        registry_up(ctx, "127.0.0.1:5000")
    assert (engine.calls, ctx.built_only) == ([], [])


@pytest.mark.parametrize("volumes", [False, True])
def test_registry_down_removes_the_container_and_with_volumes_its_images(engine: ScriptedEngine, volumes: bool) -> None:
    report, out = reporter()
    registry_down(Docker(), report, volumes)
    expected = [["rm", "--force", "--volumes", "lmsops-registry"]] + ([["volume", "rm", "lmsops-registry"]] * volumes)
    assert engine.verbs == expected
    said = "with its images (volume lmsops-registry)" if volumes else "removed\n"
    assert said in out.getvalue()
