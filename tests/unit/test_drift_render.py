"""The declared side of drift, rendered by the deploy tools themselves (lmsops.drift.render).

The real `docker stack deploy` and `docker compose create` run against lmsops's fake engine; the
engine the images come from is answered from recordings (tests/unit/data/drift: the image inspect
documents and the engine's version). No engine is needed and nothing is created anywhere.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.drift.compare import model_file
from lmsops.drift.render import Rendered, render_compose, render_swarm
from lmsops.environments.model import Model
from tests.unit.drift_fakes import RecordedEngine, declared_model, environment, recorded

IMAGES: dict[str, dict[str, Any]] = recorded("compose.json")["images"]
WEB_IMAGE = "lmsops/catalog:0.1.0-7c5424cff98a"
DB_IMAGE = "lmsops/postgres:15-1-11498090b9b9"
ABSENT_IMAGE = "lmsops/worker:0.1.0-000000000000"  # declared, but not on the engine

COMPOSE_MODEL: dict[str, Any] = {
    "name": "lms-unit",
    "services": {
        "web": {
            "image": WEB_IMAGE,
            "environment": {"LMS_LOG_LEVEL": "info"},
            "networks": ["backend", "frontend"],
            "secrets": ["db-password"],
            "scale": 2,
        },
        "db": {"image": DB_IMAGE, "networks": ["backend"]},
        "worker": {"image": ABSENT_IMAGE, "networks": ["backend"]},
    },
    "networks": {"backend": {}, "frontend": {}},
    "secrets": {"db-password": {"file": "./db-password"}},
}

SWARM_MODEL: dict[str, Any] = {
    "services": {
        "web": {
            "image": WEB_IMAGE,
            "environment": {"LMS_LOG_LEVEL": "info"},
            "networks": ["backend"],
            "secrets": ["db-password"],
            "deploy": {"replicas": 2, "labels": {"org.lmsops.release.commit": "0" * 40}},
        },
        "db": {"image": DB_IMAGE, "networks": ["backend"], "deploy": {"replicas": 1}},
    },
    "networks": {"backend": {"driver": "overlay"}},
    "secrets": {"db-password": {"file": "./db-password", "name": "lms-unit_db-password_0123456789"}},
}


def engine(api_version: str | None = None) -> RecordedEngine:
    """The engine the images are on: it holds the web and db images (not the worker's)."""
    version = recorded("version.json")
    if api_version is not None:
        version["ApiVersion"] = api_version
    return RecordedEngine(images={ref: IMAGES[ref] for ref in (WEB_IMAGE, DB_IMAGE)}, version=version)


def model(kind: str, document: dict[str, Any], folder: Path) -> Model:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "db-password").write_text("unit-test-password\n")
    if kind == "swarm":
        return declared_model(environment("staging", "swarm", "lms-unit"), document, folder)
    return declared_model(environment("dev", "compose", "lms-unit"), document, folder)


@pytest.fixture(scope="module")
def compose_rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rendered, Path]:
    folder = tmp_path_factory.mktemp("compose")
    declared = model("compose", COMPOSE_MODEL, folder)
    return render_compose(engine(), declared, model_file(declared)), folder


@pytest.fixture(scope="module")
def swarm_rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    declared = model("swarm", SWARM_MODEL, tmp_path_factory.mktemp("swarm"))
    return render_swarm(engine(), declared, model_file(declared))


# --- Compose -------------------------------------------------------------------------------------


def test_compose_renders_one_create_body_per_container_of_the_model(compose_rendered: tuple[Rendered, Path]) -> None:
    rendered, folder = compose_rendered
    assert sorted(rendered.specs) == ["lms-unit-db-1", "lms-unit-web-1", "lms-unit-web-2", "lms-unit-worker-1"]
    body = rendered.specs["lms-unit-web-1"]
    assert body["Image"] == WEB_IMAGE
    assert body["Env"] == ["LMS_LOG_LEVEL=info"]
    labels = body["Labels"]
    assert (labels["com.docker.compose.project"], labels["com.docker.compose.service"]) == ("lms-unit", "web")
    secret = {"Type": "bind", "Source": str(folder / "db-password"), "Target": "/run/secrets/db-password"}
    assert [{k: m[k] for k in secret} for m in body["HostConfig"]["Mounts"]] == [secret]


def test_compose_rendering_carries_the_image_documents_of_the_engine_and_only_those(
    compose_rendered: tuple[Rendered, Path],
) -> None:
    """The image the engine does not hold is still rendered; drift then finds no image id for it."""
    rendered, _ = compose_rendered
    assert rendered.images == {WEB_IMAGE: IMAGES[WEB_IMAGE], DB_IMAGE: IMAGES[DB_IMAGE]}
    assert rendered.specs["lms-unit-worker-1"]["Image"] == ABSENT_IMAGE


def endpoints(rendered: Rendered) -> dict[str, dict[str, list[str]]]:
    """container -> network -> its aliases there."""
    return {
        name: {net: sorted(ep.get("Aliases") or []) for net, ep in body["NetworkingConfig"]["EndpointsConfig"].items()}
        for name, body in rendered.specs.items()
    }


def test_every_network_of_a_container_is_in_its_rendering_whatever_the_api_version(
    compose_rendered: tuple[Rendered, Path], tmp_path: Path
) -> None:
    """Against API 1.41 Compose creates a container on one network and connects it to the others
    afterwards; against 1.44 it sends them all at create. The rendering is the same."""
    rendered, _ = compose_rendered
    web = {"lms-unit_backend": ["lms-unit-web-1", "web"], "lms-unit_frontend": ["lms-unit-web-1", "web"]}
    assert endpoints(rendered)["lms-unit-web-1"] == web
    assert endpoints(rendered)["lms-unit-db-1"] == {"lms-unit_backend": ["db", "lms-unit-db-1"]}
    declared = model("compose", COMPOSE_MODEL, tmp_path)
    newer = render_compose(engine("1.44"), declared, model_file(declared))
    assert endpoints(newer) == endpoints(rendered)


def test_a_compose_model_the_client_rejects_stops_the_rendering_with_the_clients_message(tmp_path: Path) -> None:
    declared = model("compose", {"services": {"web": {"environment": {"A": "1"}}}}, tmp_path)
    with pytest.raises(
        ConfigError, match=r"cannot render the Compose project lms-unit: .*neither an image nor a build"
    ):
        render_compose(engine(), declared, model_file(declared))


# --- Swarm ---------------------------------------------------------------------------------------


def test_swarm_renders_the_service_spec_the_stack_deploy_sends(swarm_rendered: Rendered) -> None:
    assert sorted(swarm_rendered.specs) == ["db", "web"]  # keyed by service, without the stack's prefix
    spec = swarm_rendered.specs["web"]
    assert spec["Name"] == "lms-unit_web"
    assert spec["Mode"] == {"Replicated": {"Replicas": 2}}
    assert spec["Labels"]["org.lmsops.release.commit"] == "0" * 40
    container = spec["TaskTemplate"]["ContainerSpec"]
    assert (container["Image"], container["Env"]) == (WEB_IMAGE, ["LMS_LOG_LEVEL=info"])
    assert [s["SecretName"] for s in container["Secrets"]] == ["lms-unit_db-password_0123456789"]
    assert spec["TaskTemplate"]["Networks"] == [{"Target": "lms-unit_backend", "Aliases": ["web"]}]
    assert swarm_rendered.images == {WEB_IMAGE: IMAGES[WEB_IMAGE], DB_IMAGE: IMAGES[DB_IMAGE]}


def test_a_swarm_model_the_client_rejects_stops_the_rendering_with_the_clients_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And the fake engine leaves nothing behind (its socket's folder), even when the rendering fails."""
    scratch = Path(tempfile.mkdtemp(prefix="lmsops-t-", dir="/tmp"))  # short: a socket's path has 108 bytes
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    declared = model("swarm", {"services": {"web": {"image": WEB_IMAGE, "by_hand": 1}}}, tmp_path / "model")
    images = engine()
    with pytest.raises(ConfigError, match=r"cannot render the Swarm stack lms-unit: .*by_hand"):
        render_swarm(images, declared, model_file(declared))
    [host] = images.hosts
    assert str(host).startswith(f"unix://{scratch}/")
    assert list(scratch.iterdir()) == []
    scratch.rmdir()


class NewerClient(RecordedEngine):
    """A docker client that asks the engine for something lmsops's fake engine does not know."""

    def for_target(self, context: str | None, host: str | None) -> Docker:
        client = super().for_target(context, host)
        client.run("node", "ls", check=False)
        return client


def test_a_request_the_fake_engine_does_not_know_stops_the_rendering_and_is_named(tmp_path: Path) -> None:
    """Even when the client carries on and succeeds: drift never guesses what it was not told."""
    declared = model("swarm", SWARM_MODEL, tmp_path)
    client = NewerClient(images={WEB_IMAGE: IMAGES[WEB_IMAGE], DB_IMAGE: IMAGES[DB_IMAGE]})
    with pytest.raises(ConfigError) as raised:
        render_swarm(client, declared, model_file(declared))
    message = str(raised.value)
    assert message.startswith("cannot render the Swarm stack lms-unit: the docker client asked for GET /nodes,")
    assert "docker version" in message
