"""The enrollment service's HTTP contract: what PostgreSQL cannot store is a 422, every status a route
answers is in its OpenAPI, and a 405 lists the path's methods (lms_runtime.api; docs/services.md)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

INT4_MAX = 2**31 - 1


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [  # the fuzzer's 500s: integers beyond PostgreSQL's INTEGER
        ("POST", "/enrollments/782582276158284824647303168/withdraw", None),
        ("GET", f"/enrollments/{INT4_MAX + 1}", None),
        ("GET", f"/enrollments?course_id={INT4_MAX + 1}", None),
        ("GET", "/enrollments?offset=486993434422448215952457728", None),
        ("GET", "/enrollments?learner_id=a%00b", None),  # NUL: PostgreSQL text cannot hold it
        ("POST", "/enrollments", {"learner_id": "ada", "course_id": INT4_MAX + 1}),
    ],
)
def test_inputs_postgresql_cannot_store_are_422(client: TestClient, method: str, url: str, body: Any) -> None:
    response = client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


def test_the_largest_id_postgresql_stores_is_a_404_not_a_422(client: TestClient) -> None:
    response = client.post(f"/enrollments/{INT4_MAX}/withdraw")
    assert (response.status_code, response.json()) == (404, {"detail": f"enrollment {INT4_MAX} does not exist"})


def test_every_route_documents_the_statuses_it_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    documented = {(m.upper(), p): sorted(op["responses"]) for p, ops in paths.items() for m, op in ops.items()}
    assert documented == {
        ("GET", "/healthz"): ["200"],
        ("GET", "/readyz"): ["200", "503"],
        ("GET", "/version"): ["200"],
        ("POST", "/enrollments"): ["201", "400", "404", "409", "422", "503"],
        ("GET", "/enrollments"): ["200", "422", "503"],
        ("GET", "/enrollments/{enrollment_id}"): ["200", "404", "422", "503"],
        ("POST", "/enrollments/{enrollment_id}/withdraw"): ["200", "404", "409", "422", "503"],
    }


def test_an_undeclared_method_is_405_with_allow(client: TestClient) -> None:
    response = client.delete("/enrollments")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")
    assert client.get("/enrollments/1/withdraw").headers["allow"] == "POST"
