from __future__ import annotations

from fastapi.testclient import TestClient
from tests.conftest import StandInCatalog


def test_enroll_list_withdraw_and_enroll_again(client: TestClient) -> None:
    created = client.post("/enrollments", json={"learner_id": "ada", "course_id": 1})
    assert created.status_code == 201, created.text
    enrollment = created.json()
    assert (enrollment["status"], enrollment["withdrawn_at"]) == ("active", None)

    client.post("/enrollments", json={"learner_id": "alan", "course_id": 1})
    by_course = client.get("/enrollments", params={"course_id": 1}).json()
    assert by_course["total"] == 2
    by_learner = client.get("/enrollments", params={"learner_id": "ada"}).json()
    assert [e["id"] for e in by_learner["items"]] == [enrollment["id"]]

    withdrawn = client.post(f"/enrollments/{enrollment['id']}/withdraw").json()
    assert withdrawn["status"] == "withdrawn" and withdrawn["withdrawn_at"] is not None
    assert client.post(f"/enrollments/{enrollment['id']}/withdraw").status_code == 409
    assert client.get("/enrollments", params={"status": "active"}).json()["total"] == 1

    again = client.post("/enrollments", json={"learner_id": "ada", "course_id": 1})
    assert again.status_code == 201
    assert again.json()["id"] == enrollment["id"] and again.json()["status"] == "active"


def test_course_must_exist_and_be_published(client: TestClient) -> None:
    missing = client.post("/enrollments", json={"learner_id": "ada", "course_id": 99})
    assert (missing.status_code, missing.json()["detail"]) == (404, "course 99 does not exist")
    draft = client.post("/enrollments", json={"learner_id": "ada", "course_id": 2})
    assert (draft.status_code, draft.json()["detail"]) == (409, "course 2 is not published")
    assert client.get("/enrollments").json()["total"] == 0


def test_enrolling_twice_is_a_conflict(client: TestClient) -> None:
    assert client.post("/enrollments", json={"learner_id": "ada", "course_id": 1}).status_code == 201
    second = client.post("/enrollments", json={"learner_id": "ada", "course_id": 1})
    assert second.status_code == 409
    assert second.json()["detail"] == "learner 'ada' is already enrolled in course 1"


def test_catalog_unreachable_is_503_with_a_clear_body_and_nothing_recorded(client_without_catalog: TestClient) -> None:
    response = client_without_catalog.post("/enrollments", json={"learner_id": "ada", "course_id": 1})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail.startswith("catalog is unavailable: ConnectError")
    assert detail.endswith("the enrollment was not recorded, try again later")
    assert client_without_catalog.get("/enrollments").json()["total"] == 0
    ready = client_without_catalog.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["catalog"].startswith("failed: ConnectError")


def test_a_catalog_that_recovers_within_the_retries_is_used(client: TestClient, catalog: StandInCatalog) -> None:
    catalog.failures_before_success = 2
    response = client.post("/enrollments", json={"learner_id": "ada", "course_id": 1})
    assert response.status_code == 201
    assert catalog.calls == 3


def test_a_catalog_that_keeps_failing_is_503(client: TestClient, catalog: StandInCatalog) -> None:
    catalog.failures_before_success = 5
    response = client.post("/enrollments", json={"learner_id": "ada", "course_id": 1})
    assert response.status_code == 503
    assert "catalog is unavailable: HTTP 503" in response.json()["detail"]
    assert catalog.calls == 3


def test_invalid_input_and_unknown_ids(client: TestClient) -> None:
    for body in ({"learner_id": "", "course_id": 1}, {"learner_id": "ada", "course_id": 0}, {"learner_id": "ada"}):
        assert client.post("/enrollments", json=body).status_code == 422
    assert client.get("/enrollments", params={"status": "paused"}).status_code == 422
    assert client.get("/enrollments/404").json() == {"detail": "enrollment 404 does not exist"}
    assert client.post("/enrollments/404/withdraw").status_code == 404


def test_pagination(client: TestClient) -> None:
    for number in range(5):
        client.post("/enrollments", json={"learner_id": f"l{number}", "course_id": 1})
    page = client.get("/enrollments", params={"limit": 2, "offset": 4}).json()
    assert (page["total"], [e["learner_id"] for e in page["items"]]) == (5, ["l4"])
