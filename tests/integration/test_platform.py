"""The reference services together, through the gateway, on real containers and PostgreSQL."""

from __future__ import annotations

import http.client
import json
import secrets
import time
from urllib.parse import urlsplit

import pytest

from lmsops.core.paths import find_repo
from lmsops.environments.stack import gateway_routes
from tests.integration.conftest import Platform
from tests.integration.http import call

# Every service the gateway routes to, discovered from the fragments: never a hand-kept list.
ROUTED = [route.split("=")[0] for route in gateway_routes(find_repo()).split()]


def published_course(platform: Platform) -> int:
    code = f"IT-{secrets.token_hex(4)}"
    status, course = call("POST", f"{platform.gateway}/catalog/courses", {"code": code, "title": "Integration"})
    assert status == 201, course
    status, course = call("PATCH", f"{platform.gateway}/catalog/courses/{course['id']}", {"published": True})
    assert (status, course["published"]) == (200, True)
    return int(course["id"])


def test_create_publish_enroll_and_list_through_the_gateway(platform: Platform) -> None:
    course_id = published_course(platform)
    status, enrollment = call(
        "POST", f"{platform.gateway}/enrollment/enrollments", {"learner_id": "ada", "course_id": course_id}
    )
    assert status == 201, enrollment
    status, page = call("GET", f"{platform.gateway}/enrollment/enrollments?course_id={course_id}")
    assert status == 200
    assert [(e["learner_id"], e["status"]) for e in page["items"]] == [("ada", "active")]
    status, page = call("GET", f"{platform.gateway}/enrollment/enrollments?learner_id=ada")
    assert enrollment["id"] in [e["id"] for e in page["items"]]


def test_catalog_down_gives_503_then_success_once_it_is_back(platform: Platform) -> None:
    course_id = published_course(platform)
    url = f"{platform.gateway}/enrollment/enrollments"
    platform.compose("stop", "catalog")
    try:
        status, body = call("POST", url, {"learner_id": "grace", "course_id": course_id})
        assert status == 503
        assert body["detail"].startswith("catalog is unavailable")
        assert body["detail"].endswith("the enrollment was not recorded, try again later")
        status, page = call("GET", f"{url}?learner_id=grace")
        assert page["total"] == 0  # nothing half-recorded
    finally:
        # A new container (and address): the gateway and enrollment find it through Docker's DNS.
        platform.compose("up", "--detach", "--wait", "--no-build", "--force-recreate", "catalog")
    status, enrollment = call("POST", url, {"learner_id": "grace", "course_id": course_id})
    assert status == 201, enrollment


def test_every_record_survives_a_postgres_restart(platform: Platform) -> None:
    course_id = published_course(platform)
    status, enrollment = call(
        "POST", f"{platform.gateway}/enrollment/enrollments", {"learner_id": "linus", "course_id": course_id}
    )
    assert status == 201
    platform.compose("restart", "postgres")
    platform.compose("up", "--detach", "--wait", "--no-build")
    # No retry: each service's pools still hold connections the restart closed; none may reach a
    # request (the pool replaces them on checkout). Sequential requests go through every idle one.
    answers = [call("GET", f"{platform.gateway}/catalog/courses/{course_id}") for _ in range(20)]
    answers += [call("GET", f"{platform.gateway}/enrollment/enrollments/{enrollment['id']}") for _ in range(20)]
    assert [body for status, body in answers if status != 200] == []
    course, again = answers[0][1], answers[-1][1]
    assert course["published"] is True
    assert (again["learner_id"], again["course_id"]) == ("linus", course_id)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/version"])
@pytest.mark.parametrize("service", ROUTED)
def test_runtime_contract_through_the_gateway(platform: Platform, service: str, path: str) -> None:
    status, body = call("GET", f"{platform.gateway}/{service}{path}")
    assert status == 200, body
    if path == "/version":
        assert body["service"] == service
        assert body["revision"] not in {"", "unknown"}


def test_unknown_service_is_404_at_the_gateway(platform: Platform) -> None:
    status, body = call("GET", f"{platform.gateway}/no-such-service/x")
    assert (status, body) == (404, {"detail": "no service named no-such-service behind the gateway"})


def logged_request_ids(platform: Platform, service: str) -> set[str]:
    """The request ids of the access lines the service's container wrote so far."""
    lines = platform.compose("logs", "--no-log-prefix", "--no-color", service).splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return {record["request_id"] for record in records if record.get("logger") in {"access", "lms.access"}}


def test_the_gateway_logs_what_no_service_saw_and_leaves_the_rest_to_the_services(platform: Platform) -> None:
    answered, refused = f"it-{secrets.token_hex(6)}", f"it-{secrets.token_hex(6)}"
    # One keep-alive connection: the gateway ends (and logs) the first request before it reads the
    # second, so once the second's line is there, the first's would be too if it were logged.
    address = urlsplit(platform.gateway)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    statuses = []
    for path, request_id in (("/catalog/courses?limit=1", answered), ("/no-such-service/x", refused)):
        connection.request("GET", path, headers={"X-Request-ID": request_id})
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
    connection.close()
    assert statuses == [200, 404]
    deadline = time.monotonic() + 30
    while refused not in logged_request_ids(platform, "gateway") or answered not in logged_request_ids(
        platform, "catalog"
    ):
        assert time.monotonic() < deadline, "the gateway's 404 or the catalog's answer was not logged in 30 s"
        time.sleep(0.2)
    assert answered not in logged_request_ids(platform, "gateway")
