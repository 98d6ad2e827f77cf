"""CIS Docker Benchmark sections 4 and 5 for what lmsops runs itself (docs/security.md): the adapter's
confined `docker run`, and the HEALTHCHECK of the bases (4.6)."""

from __future__ import annotations

import os

import pytest

from lmsops.core.docker import Docker
from lmsops.images.dockerfile import logical_lines
from tests.unit.adapter_fakes import ScriptedEngine, scripted_engine
from tests.unit.conftest import PROJECT


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    return scripted_engine(monkeypatch)


def test_run_confined_drops_every_privilege_and_limits_every_resource(engine: ScriptedEngine) -> None:
    engine.answer("run", stdout="f00d\n")
    container = Docker().run_confined(
        "img:1", name="c", labels={"b": "2", "a": "1"}, memory="64m", cpus=0.5, pids=32,
        ports=["127.0.0.1:5000:5000"], volumes=["data:/data"],
    )  # fmt: skip
    assert container == "f00d"
    assert engine.verbs == [
        ["run", "--detach", "--name", "c", "--read-only", "--cap-drop", "ALL",  # CIS 5.13, 5.4
         "--security-opt", "no-new-privileges", "--memory", "64m", "--cpus", "0.5",  # 5.26, 5.11, 5.12
         "--pids-limit", "32", "--restart", "on-failure:5",  # 5.29, 5.15
         "--publish", "127.0.0.1:5000:5000", "--volume", "data:/data",  # 5.14: one host address
         "--label", "a=1", "--label", "b=2", "--pull", "never", "img:1"],
    ]  # fmt: skip


def test_run_confined_takes_another_bounded_restart_policy(engine: ScriptedEngine) -> None:
    Docker().run_confined("img:1", name="c", labels={}, memory="64m", cpus=1.0, pids=32, restart="no")
    assert engine.verbs[0][engine.verbs[0].index("--restart") + 1] == "no"
    assert engine.verbs[0][engine.verbs[0].index("--cpus") + 1] == "1"


def instructions(image: str, keyword: str) -> list[str]:
    """The arguments of each `keyword` instruction of base-images/<image>/Dockerfile."""
    text = (PROJECT.base_images / image / "Dockerfile").read_text()
    found = [line.split(None, 1) for _number, line in logical_lines(text)]
    return [parts[1] if len(parts) > 1 else "" for parts in found if parts[0].upper() == keyword]


@pytest.mark.parametrize(
    ("image", "check", "interval"),
    [
        # The registry: every deploy that publishes waits for its first check (one interval after the start).
        ("registry", '["lms-healthcheck"]', "3s"),
        # The services: a check is a `docker exec` (~60 ms of CPU) in every container, every interval.
        ("python", '["lms-healthcheck", "/healthz"]', "5s"),
    ],
)
def test_the_bases_containers_run_from_declare_a_healthcheck(image: str, check: str, interval: str) -> None:
    (healthcheck,) = instructions(image, "HEALTHCHECK")
    assert healthcheck.endswith(f"CMD {check}"), healthcheck
    assert f"--interval={interval} " in healthcheck, healthcheck


def test_the_build_stage_base_says_it_has_no_healthcheck() -> None:
    assert instructions("python-build", "HEALTHCHECK") == ["NONE"]


def test_the_registrys_healthcheck_asks_the_distribution_api_without_curl() -> None:
    script = PROJECT.base_images / "registry" / "lms-healthcheck"
    code = [line for line in script.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert os.access(script, os.X_OK)
    assert any("/dev/tcp/127.0.0.1/5000" in line for line in code)
    assert any("GET /v2/ HTTP/1.0" in line for line in code)
    assert not any("curl" in line for line in code)
    assert instructions("registry", "COPY") == [
        "config.yml /etc/docker/registry/config.yml",
        "lms-healthcheck /usr/local/bin/lms-healthcheck",
    ]
