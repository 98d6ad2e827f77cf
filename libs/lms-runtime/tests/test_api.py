"""The HTTP contract (lms_runtime.api): bounded inputs, documented errors, 405 with Allow."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi import APIRouter, HTTPException, Response
from fastapi.testclient import TestClient
from lms_runtime import create_app
from lms_runtime.api import INT4_MAX, Id, Limit, Offset, Text, errors
from lms_runtime.db import ReadConnectionDep, SessionDep, make_engine, session_factory
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError

router = APIRouter(prefix="/things", tags=["things"])


class Thing(BaseModel):
    name: Text = Field(max_length=20)
    owner_id: Id


@router.get("")
def list_things(limit: Limit = 20, offset: Offset = 0) -> dict[str, int]:
    return {"limit": limit, "offset": offset}


@router.post("", status_code=201, responses=errors(409))
def create_thing(body: Thing) -> Thing:
    if body.name == "taken":
        raise HTTPException(409, "taken")
    return body


@router.get("/{thing_id}", responses=errors(404))
def read_thing(thing_id: Id, session: SessionDep) -> dict[str, int]:
    return {"id": thing_id}


@router.delete("/{thing_id}", status_code=204)
def delete_thing(thing_id: Id, reader: ReadConnectionDep) -> Response:
    return Response(status_code=204)


@router.get("/{thing_id}/refused")
def refused_by_the_database(thing_id: Id) -> None:
    # What psycopg raises for `WHERE id = $1::INTEGER` with a value past INT4_MAX (SQLSTATE 22003).
    orig = psycopg.errors.NumericValueOutOfRange("integer out of range")
    raise DataError("select ... where id = %(id)s::INTEGER", {"id": thing_id}, orig)


other = APIRouter()


@other.get("/plain")
def plain() -> dict[str, str]:
    return {"ok": "yes"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = create_app(service="demo", routers=[router, other])
    app.state.sessions = session_factory(make_engine("sqlite+pysqlite://"))
    return TestClient(app)


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/things/1", 200),
        (f"/things/{INT4_MAX}", 200),
        (f"/things/{INT4_MAX + 1}", 422),  # found by the fuzzer: a 500 from PostgreSQL before
        ("/things/782582276158284824647303168", 422),
        ("/things/0", 422),
        ("/things?offset=486993434422448215952457728", 422),
        (f"/things?offset={INT4_MAX}&limit=100", 200),
        ("/things?offset=-1", 422),
        ("/things?limit=0", 422),
        ("/things?limit=101", 422),
    ],
)
def test_integers_are_bounded_to_what_postgresql_stores(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "ok", "owner_id": 1}, 201),
        ({"name": "nul\x00byte", "owner_id": 1}, 422),
        ({"name": "ok", "owner_id": INT4_MAX + 1}, 422),
    ],
)
def test_bodies_are_bounded_too(client: TestClient, body: dict[str, Any], status: int) -> None:
    assert client.post("/things", json=body).status_code == status


def test_a_lone_surrogate_is_refused_with_a_422_that_can_be_sent(client: TestClient) -> None:
    # JSON can spell it; pydantic refuses it, and the 422 echoes it: in UTF-8 that answer was a 500.
    raw = b'{"name": "\\ud800", "owner_id": 1}'
    response = client.post("/things", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["input"]) == (["body", "name"], "\ud800")


def test_the_bounds_are_in_the_openapi(openapi: dict[str, Any]) -> None:
    (parameter,) = openapi["paths"]["/things/{thing_id}"]["get"]["parameters"]
    assert (parameter["schema"]["minimum"], parameter["schema"]["maximum"]) == (1, INT4_MAX)
    limit, offset = openapi["paths"]["/things"]["get"]["parameters"]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    assert (offset["schema"]["minimum"], offset["schema"]["maximum"]) == (0, INT4_MAX)
    name = openapi["components"]["schemas"]["Thing"]["properties"]["name"]
    assert name["pattern"] == r"^[^\x00]*$"


def _codes(openapi: dict[str, Any], path: str, method: str) -> list[str]:
    return sorted(openapi["paths"][path][method]["responses"])


def test_every_status_a_route_answers_is_documented_with_the_json_error(openapi: dict[str, Any]) -> None:
    assert _codes(openapi, "/things", "post") == ["201", "400", "409", "422"]  # 400: a body that is not UTF-8
    assert _codes(openapi, "/things/{thing_id}", "get") == ["200", "404", "422", "503"]  # 503: it uses the database
    assert _codes(openapi, "/things/{thing_id}", "delete") == ["204", "422", "503"]  # a read connection, too
    assert _codes(openapi, "/things", "get") == ["200", "422"]  # no database, no body
    assert _codes(openapi, "/plain", "get") == ["200"]
    error = {"$ref": "#/components/schemas/ErrorMessage"}
    documented = [("/things", "post", "409"), ("/things", "post", "400"), ("/things/{thing_id}", "get", "503")]
    for path, method, code in documented:
        assert openapi["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"] == error
    assert openapi["components"]["schemas"]["ErrorMessage"]["properties"] == {
        "detail": {"title": "Detail", "type": "string"}
    }


def test_a_body_that_is_not_utf8_answers_the_documented_400(client: TestClient) -> None:
    response = client.post("/things", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("PUT", "/things", "GET, POST"),  # two routes share the path: Starlette named only the first's
        ("PATCH", "/things/1", "DELETE, GET"),
        ("POST", "/things/1/refused", "GET"),
        ("DELETE", "/healthz", "GET"),
    ],
)
def test_405_names_every_method_of_the_path_in_allow(client: TestClient, method: str, url: str, allow: str) -> None:
    response = client.request(method, url)
    assert (response.status_code, response.headers["allow"]) == (405, allow)
    assert response.json() == {"detail": "Method Not Allowed"}


def test_other_http_errors_are_answered_as_before(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
    assert "allow" not in response.headers
    response = client.post("/things", json={"name": "taken", "owner_id": 1})
    assert (response.status_code, response.json()) == (409, {"detail": "taken"})


def test_a_value_the_database_refuses_answers_422_not_500(client: TestClient) -> None:
    """The last line of defence when a bound is missing: PostgreSQL's data exceptions (class 22)."""
    response = client.get("/things/5/refused")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "database_refused"
    assert error["msg"] == "the database refused a value: integer out of range"
