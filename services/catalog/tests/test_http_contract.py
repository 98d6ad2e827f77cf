"""The catalog's HTTP contract: what PostgreSQL cannot store is a 422, every status a route answers is
in its OpenAPI, and a 405 lists the path's methods (lms_runtime.api; docs/services.md)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

INT4_MAX = 2**31 - 1


def course(client: TestClient) -> int:
    response = client.post("/courses", json={"code": "HTTP-1", "title": "Contract", "modules": [{"title": "One"}]})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [  # the fuzzer's 500s: integers beyond PostgreSQL's INTEGER, text with NUL
        ("GET", "/courses?limit=13&offset=486993434422448215952457728", None),
        ("GET", f"/courses/{INT4_MAX + 1}", None),
        ("PATCH", f"/courses/{INT4_MAX + 1}", {"title": "t"}),
        ("DELETE", f"/courses/{INT4_MAX + 1}", None),
        ("GET", f"/courses/{INT4_MAX + 1}/modules", None),
        ("POST", "/courses/39835106262570386195480576/modules", {"title": "\n?"}),
        ("DELETE", f"/courses/1/modules/{INT4_MAX + 1}", None),
        ("POST", "/courses/1/modules", {"title": "t", "position": INT4_MAX + 1}),
        ("POST", "/courses", {"code": "NUL1", "title": "a\x00b"}),
        ("POST", "/courses", {"code": "NUL2", "title": "t", "modules": [{"title": "m", "summary": "\x00"}]}),
        ("PATCH", "/courses/1", {"description": "\x00"}),
        ("PATCH", "/courses/1", {"title": None}),  # a field is never nullable: the same 422 shape
    ],
)
def test_inputs_postgresql_cannot_store_are_422(client: TestClient, method: str, url: str, body: Any) -> None:
    course(client)
    response = client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)  # FastAPI's validation errors, as documented


def test_the_largest_id_postgresql_stores_is_a_404_not_a_422(client: TestClient) -> None:
    response = client.get(f"/courses/{INT4_MAX}")
    assert (response.status_code, response.json()) == (404, {"detail": f"course {INT4_MAX} does not exist"})


def test_every_route_documents_the_statuses_it_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    documented = {(m.upper(), p): sorted(op["responses"]) for p, ops in paths.items() for m, op in ops.items()}
    assert documented == {
        ("GET", "/healthz"): ["200"],
        ("GET", "/readyz"): ["200", "503"],
        ("GET", "/version"): ["200"],
        ("POST", "/courses"): ["201", "400", "409", "422", "503"],
        ("GET", "/courses"): ["200", "422", "503"],
        ("GET", "/courses/{course_id}"): ["200", "404", "422", "503"],
        ("PATCH", "/courses/{course_id}"): ["200", "400", "404", "409", "422", "503"],
        ("DELETE", "/courses/{course_id}"): ["204", "404", "422", "503"],
        ("GET", "/courses/{course_id}/modules"): ["200", "404", "422", "503"],
        ("POST", "/courses/{course_id}/modules"): ["201", "400", "404", "422", "503"],
        ("DELETE", "/courses/{course_id}/modules/{module_id}"): ["200", "404", "422", "503"],
    }


def test_an_undeclared_method_is_405_with_allow(client: TestClient) -> None:
    response = client.put("/courses")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")
    assert client.post("/courses/1").headers["allow"] == "DELETE, GET, PATCH"
