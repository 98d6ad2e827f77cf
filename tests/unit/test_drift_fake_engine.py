"""lmsops's fake engine (lmsops.drift.fake_engine), spoken to over its unix socket as a docker client does.

What the deploy tools rely on: it answers as an empty swarm manager of the real engine's version,
finds what they created by name and by ID, filters listings as the engine does, and records every
object; a request it does not know is refused and named, never guessed. (test_drift_render.py drives
it with the real docker client.)
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from lmsops.drift.fake_engine import EngineFacts, Recording, fake_engine
from tests.unit.drift_fakes import recorded

VERSION: dict[str, Any] = recorded("version.json")
IMAGE = "lmsops/catalog:0.1.0-7c5424cff98a"
IMAGE_DOC: dict[str, Any] = recorded("compose.json")["images"][IMAGE]
PROJECT_LABEL = "com.docker.compose.project"


class Engine:
    """A client of the fake engine: one HTTP/1.1 connection per request, JSON in and out."""

    def __init__(self, host: str, recording: Recording) -> None:
        self.socket_path = host.removeprefix("unix://")
        self.recording = recording

    def request(
        self, verb: str, path: str, body: Any = None, *, chunked: bool = False
    ) -> tuple[int, http.client.HTTPMessage, Any]:
        connection = http.client.HTTPConnection("fake-engine")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.socket_path)
        connection.sock = sock
        data = None if body is None else json.dumps(body).encode()
        try:
            if chunked and data is not None:
                halves = iter([data[: len(data) // 2], data[len(data) // 2 :]])
                connection.request(verb, path, body=halves, encode_chunked=True)
            else:
                connection.request(verb, path, body=data, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read()
            return response.status, response.headers, json.loads(raw) if raw else None
        finally:
            connection.close()


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """One engine for the module (each test names its own objects): stopping one takes half a second."""
    facts = EngineFacts(VERSION["ApiVersion"], VERSION, {IMAGE: IMAGE_DOC})
    with fake_engine(facts) as (host, recording):
        yield Engine(host, recording)


def filters(**wanted: Any) -> str:
    return "filters=" + quote(json.dumps(wanted))


def test_it_answers_as_an_empty_swarm_manager_of_the_real_engines_version(engine: Engine) -> None:
    status, headers, body = engine.request("HEAD", "/_ping")
    assert (status, body) == (200, None)
    assert (headers["Api-Version"], headers["Swarm"], headers["Ostype"]) == ("1.41", "active/manager", "linux")
    assert engine.request("GET", "/v1.41/version")[2] == VERSION
    info = engine.request("GET", "/v1.41/info")[2]
    assert (info["ServerVersion"], info["Swarm"]["LocalNodeState"]) == (VERSION["Version"], "active")
    assert info["Swarm"]["ControlAvailable"] is True
    assert engine.request("GET", "/v1.41/services")[2] == []


def test_it_serves_the_images_of_the_real_engine_and_no_other(engine: Engine) -> None:
    assert engine.request("GET", f"/v1.41/images/{IMAGE}/json")[:3:2] == (200, IMAGE_DOC)
    status, _, body = engine.request("GET", "/v1.41/images/lmsops/other:1/json")
    assert (status, body) == (404, {"message": "No such object: lmsops/other:1"})


def test_a_request_it_does_not_know_is_refused_and_named(engine: Engine) -> None:
    status, _, body = engine.request("DELETE", "/v1.41/networks/lms-unit_backend")
    assert status == 501
    assert body == {"message": "lmsops's rendering engine does not implement DELETE /networks/lms-unit_backend"}
    engine.request("GET", "/v1.41/nodes")
    assert engine.recording.refused[-2:] == ["DELETE /networks/lms-unit_backend", "GET /nodes"]


def test_a_created_network_is_found_by_name_and_by_id(engine: Engine) -> None:
    body = {"Name": "lms-unit_backend", "Driver": "overlay", "Labels": {"com.docker.stack.namespace": "lms-unit"}}
    status, _, created = engine.request("POST", "/v1.41/networks/create", body)
    assert status == 201
    by_name = engine.request("GET", "/v1.41/networks/lms-unit_backend")[2]
    assert engine.request("GET", f"/v1.41/networks/{created['Id']}")[2] == by_name
    assert (by_name["Id"], by_name["Scope"], by_name["Labels"]) == (created["Id"], "swarm", body["Labels"])
    assert engine.request("GET", "/v1.41/networks/lms-unit_frontend")[:3:2] == (
        404,
        {"message": "No such object: lms-unit_frontend"},
    )
    assert engine.recording.networks["lms-unit_backend"]["Driver"] == "overlay"


def test_listings_are_filtered_by_name_and_label_as_the_engine_filters_them(engine: Engine) -> None:
    ours = {"Name": "lms-unit_data", "Labels": {PROJECT_LABEL: "lms-unit"}, "DriverOpts": {"type": "tmpfs"}}
    theirs = {"Name": "lms-other_data", "Labels": {PROJECT_LABEL: "lms-other"}}
    status, _, volume = engine.request("POST", "/v1.41/volumes/create", ours)
    engine.request("POST", "/v1.41/volumes/create", theirs)
    assert (status, volume["Name"]) == (201, "lms-unit_data")  # the volume itself, as the engine answers
    listed = engine.request("GET", "/v1.41/volumes?" + filters(label={f"{PROJECT_LABEL}=lms-unit": True}))[2]
    assert [v["Name"] for v in listed["Volumes"]] == ["lms-unit_data"]
    assert (listed["Volumes"][0]["Driver"], listed["Volumes"][0]["Options"]) == ("local", {"type": "tmpfs"})
    everyone = engine.request("GET", "/v1.41/volumes?" + filters(label={PROJECT_LABEL: True}))[2]
    assert sorted(v["Name"] for v in everyone["Volumes"]) == ["lms-other_data", "lms-unit_data"]
    assert engine.request("GET", "/v1.41/volumes/lms-other_data")[2]["Labels"] == theirs["Labels"]
    assert engine.request("GET", "/v1.41/volumes?" + filters(name=["lms-none_data"]))[2]["Volumes"] == []


def test_a_created_secret_is_listed_in_the_swarm_shape(engine: Engine) -> None:
    body = {"Name": "lms-unit_db-password_0123456789", "Labels": {"com.docker.stack.namespace": "lms-unit"}}
    status, _, created = engine.request("POST", "/v1.41/secrets/create", {**body, "Data": "c2VjcmV0"})
    assert status == 201
    [listed] = engine.request("GET", "/v1.41/secrets?" + filters(name=[body["Name"]]))[2]
    assert (listed["ID"], listed["Spec"]["Name"], listed["Spec"]["Labels"]) == (
        created["ID"],
        body["Name"],
        body["Labels"],
    )
    assert engine.request("GET", "/v1.41/secrets?" + filters(name={"lms-unit_other": True}))[2] == []


def test_a_service_spec_sent_in_chunks_is_recorded_whole(engine: Engine) -> None:
    spec = {"Name": "lms-unit_web", "TaskTemplate": {"ContainerSpec": {"Image": IMAGE, "Env": ["A=1"] * 50}}}
    status, _, reply = engine.request("POST", "/v1.41/services/create", spec, chunked=True)
    assert status == 201 and reply["ID"]
    assert engine.recording.services[-1] == spec
    assert engine.request("GET", "/v1.41/services")[2] == [], "every render starts from an empty swarm"


def test_a_created_container_is_listed_by_its_labels_and_inspected_by_name_or_id(engine: Engine) -> None:
    body: dict[str, Any] = {"Image": IMAGE, "Env": ["A=1"], "Labels": {PROJECT_LABEL: "lms-unit"}}
    body["HostConfig"] = {"Memory": 1}
    body["NetworkingConfig"] = {"EndpointsConfig": {"lms-unit_backend": {"Aliases": ["web"]}}}
    status, _, created = engine.request("POST", "/v1.41/containers/create?name=lms-unit-web-1", body)
    assert status == 201
    [summary] = engine.request("GET", "/v1.41/containers/json?all=1&" + filters(label=[f"{PROJECT_LABEL}=lms-unit"]))[2]
    assert (summary["Id"], summary["Names"], summary["State"]) == (created["Id"], ["/lms-unit-web-1"], "created")
    assert summary["NetworkSettings"]["Networks"] == body["NetworkingConfig"]["EndpointsConfig"]
    other_project = filters(label=[f"{PROJECT_LABEL}=lms-other"])
    assert engine.request("GET", "/v1.41/containers/json?all=1&" + other_project)[2] == []
    inspect = engine.request("GET", "/v1.41/containers/lms-unit-web-1/json")[2]
    assert engine.request("GET", f"/v1.41/containers/{created['Id']}/json")[2] == inspect
    assert (inspect["Name"], inspect["Config"], inspect["HostConfig"]) == (
        "/lms-unit-web-1",
        {"Image": IMAGE, "Env": ["A=1"], "Labels": {PROJECT_LABEL: "lms-unit"}},
        {"Memory": 1},
    )
    assert engine.request("GET", "/v1.41/containers/lms-unit-web-2/json")[0] == 404
    assert engine.recording.containers["lms-unit-web-1"]["Id"] == created["Id"]


def test_a_network_connect_is_recorded_with_its_endpoint(engine: Engine) -> None:
    """Older APIs attach a container's further networks after create; the render merges them in."""
    body = {"Container": "c0ffee", "EndpointConfig": {"Aliases": ["web"]}}
    assert engine.request("POST", "/v1.41/networks/lms-unit_frontend/connect", body)[0] == 200
    assert engine.recording.connects[-1] == ("lms-unit_frontend", body)
