"""Where deploy checks that the gateway serves every routed service (the answers are checked in integration)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.paths import Repo
from lmsops.environments.config import load_environment
from lmsops.environments.model import Model, model_services
from lmsops.targets.entrypoint import ask, local_gateway_url, routed_services


def model(repo: Repo, env_name: str, gateway: dict[str, Any], context: str | None = None) -> Model:
    env = load_environment(repo, env_name, model_services(repo))
    if context is not None:  # the environment deployed to another engine
        env = dataclasses.replace(
            env, file=env.file.model_copy(update={"target": env.target.model_copy(update={"context": context})})
        )
    return Model(env, [], Path("x"), [], {"services": {"gateway": gateway}}, "")


ROUTED = {"environment": {"LMS_GATEWAY_ROUTES": "catalog=catalog:8001 enrollment=enrollment:8002"}}


def test_the_routes_are_read_from_the_gateway_of_the_resolved_model(project: Repo) -> None:
    assert routed_services(model(project, "dev", ROUTED)) == ["catalog", "enrollment"]
    assert routed_services(model(project, "dev", {})) == []


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
