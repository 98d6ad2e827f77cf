from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def create(client: TestClient, code: str = "PY101", **fields: Any) -> dict[str, Any]:
    response = client.post("/courses", json={"code": code, "title": f"Course {code}", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_read_update_delete(client: TestClient) -> None:
    course = create(client, description="Intro", modules=[{"title": "Basics"}, {"title": "Loops"}])
    assert course["published"] is False
    assert [(m["position"], m["title"]) for m in course["modules"]] == [(1, "Basics"), (2, "Loops")]

    fetched = client.get(f"/courses/{course['id']}").json()
    assert fetched == course

    updated = client.patch(f"/courses/{course['id']}", json={"published": True, "title": "Python 101"}).json()
    assert (updated["published"], updated["title"], updated["code"]) == (True, "Python 101", "PY101")
    assert updated["updated_at"] >= course["updated_at"]

    assert client.delete(f"/courses/{course['id']}").status_code == 204
    assert client.get(f"/courses/{course['id']}").status_code == 404


def test_duplicate_code_is_a_conflict(client: TestClient) -> None:
    first = create(client, "DUP-1")
    response = client.post("/courses", json={"code": "DUP-1", "title": "again"})
    assert response.status_code == 409
    assert response.json()["detail"] == "a course with code 'DUP-1' already exists"
    other = create(client, "DUP-2")
    renamed = client.patch(f"/courses/{other['id']}", json={"code": "DUP-1"})
    assert renamed.status_code == 409
    assert client.patch(f"/courses/{first['id']}", json={"code": "DUP-1"}).status_code == 200


def test_invalid_input_is_422_naming_the_field(client: TestClient) -> None:
    cases = [
        ({"code": "x", "title": "too short code"}, "code"),
        ({"code": "OK1", "title": ""}, "title"),
        ({"code": "OK2"}, "title"),
        ({"code": "OK3", "title": "t", "colour": "red"}, "colour"),
        ({"code": "bad code!", "title": "t"}, "code"),
    ]
    for body, field in cases:
        response = client.post("/courses", json=body)
        assert response.status_code == 422, body
        assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}
    course = create(client, "VAL1")
    assert client.patch(f"/courses/{course['id']}", json={"title": None}).status_code == 422
    assert client.get("/courses", params={"limit": 0}).status_code == 422
    assert client.get("/courses/not-a-number").status_code == 422


def test_unknown_ids_are_404(client: TestClient) -> None:
    assert client.get("/courses/999").json() == {"detail": "course 999 does not exist"}
    assert client.patch("/courses/999", json={"title": "x"}).status_code == 404
    assert client.delete("/courses/999").status_code == 404
    assert client.get("/courses/999/modules").status_code == 404
    course = create(client, "MOD0")
    assert client.delete(f"/courses/{course['id']}/modules/12345").status_code == 404


def test_pagination_and_filter(client: TestClient) -> None:
    for number in range(7):
        create(client, f"PAGE{number}", published=number % 2 == 0)
    first = client.get("/courses", params={"limit": 3}).json()
    assert (first["total"], first["limit"], first["offset"]) == (7, 3, 0)
    assert [c["code"] for c in first["items"]] == ["PAGE0", "PAGE1", "PAGE2"]
    last = client.get("/courses", params={"limit": 3, "offset": 6}).json()
    assert [c["code"] for c in last["items"]] == ["PAGE6"]
    published = client.get("/courses", params={"published": True}).json()
    assert published["total"] == 4
    assert all(c["published"] for c in published["items"])
    past_the_end = client.get("/courses", params={"limit": 3, "offset": 9, "published": False}).json()
    assert (past_the_end["items"], past_the_end["total"]) == ([], 3)


def test_a_page_shows_each_course_as_reading_it_alone_does(client: TestClient) -> None:
    create(client, "SAME1", description="Ünïcode", modules=[{"title": "B", "summary": "s"}, {"title": "A"}])
    create(client, "SAME2", published=True)
    response = client.get("/courses")
    assert response.headers["content-type"] == "application/json"
    page = response.json()
    assert page["items"] == [client.get(f"/courses/{item['id']}").json() for item in page["items"]]
    assert [m["title"] for m in page["items"][0]["modules"]] == ["B", "A"]


def test_modules_keep_their_order(client: TestClient) -> None:
    course = create(client, "ORD1", modules=[{"title": "A"}, {"title": "C"}])
    modules = client.post(f"/courses/{course['id']}/modules", json={"title": "B", "position": 2}).json()
    assert [(m["position"], m["title"]) for m in modules] == [(1, "A"), (2, "B"), (3, "C")]
    modules = client.post(f"/courses/{course['id']}/modules", json={"title": "D"}).json()
    assert [m["title"] for m in modules] == ["A", "B", "C", "D"]
    b = next(m for m in modules if m["title"] == "B")
    modules = client.delete(f"/courses/{course['id']}/modules/{b['id']}").json()
    assert [(m["position"], m["title"]) for m in modules] == [(1, "A"), (2, "C"), (3, "D")]
    assert client.get(f"/courses/{course['id']}/modules").json() == modules


def test_runtime_contract_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}
    version = client.get("/version").json()
    assert version["service"] == "catalog"
    response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
