"""Each service's HTTP contract, proven against the real service by property-based tests generated
from its own OpenAPI document (Schemathesis), through the gateway of the running dev platform.

For every operation of the document, requests are generated from its schemas, valid ones and
invalid ones, sent to the real service on PostgreSQL, and every answer is checked: never a 5xx, a
status code the operation documents, the documented content type, a body that matches the
documented schema. Then every undeclared method of each path must answer 405 with `Allow` naming
the declared ones. Services come from the model (every service the gateway routes to: catalog,
enrollment, any service stamped from the template), never from a hand-kept list; a stamped service
is checked on its own deployment in tests/integration/test_service_template.py.

Bounded and reproducible: a fixed number of examples per operation and per mode, a deadline per
request, derandomized generation (the same cases on every run) and no example database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lmsops.core.paths import find_repo
from lmsops.environments.stack import gateway_routes
from tests.integration.conftest import Platform

# Every service the gateway routes to, discovered from the fragments: never a hand-kept list.
ROUTED = [route.split("=")[0] for route in gateway_routes(find_repo()).split()]
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
EXAMPLES = 40  # per operation and per mode (valid, invalid): 80 requests for an operation with inputs
DEADLINE = timedelta(seconds=10)  # per request, far above a healthy answer, below the gateway's 30 s
METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@dataclass
class ContractReport:
    """What a run generated and what it found."""

    service: str
    operations: int = 0
    cases: dict[GenerationMode, int] = field(default_factory=lambda: dict.fromkeys(MODES, 0))
    methods_checked: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        valid, invalid = self.cases[GenerationMode.POSITIVE], self.cases[GenerationMode.NEGATIVE]
        return (
            f"{self.service}: {self.operations} operations, {valid + invalid} generated cases ({valid} valid, "
            f"{invalid} invalid), {self.methods_checked} undeclared methods checked for 405 + Allow, "
            f"{len(self.failures)} failures, {self.seconds:.1f} s; checks: {', '.join(c.__name__ for c in CHECKS)}"
        )


def check_contract(service: str, base_url: str, examples: int = EXAMPLES) -> ContractReport:
    """Generate, send and check every operation of the OpenAPI document at base_url/openapi.json."""
    started = time.monotonic()
    report = ContractReport(service)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    session = requests.Session()  # keep-alive connections through the gateway, as clients do
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the document itself describes wrongly
            report.failures.append(f"the OpenAPI document is invalid: {result.err()}")
            continue
        operation = result.ok()
        report.operations += 1
        inputs = sum(map(len, (operation.path_parameters, operation.query, operation.headers, operation.body)))
        for mode in MODES if inputs else MODES[:1]:  # no input: no invalid request to make (/healthz)
            try:
                _generate_and_send(operation, mode, base_url, session, examples, report.cases)
            # One operation's failure must not hide another's; Schemathesis raises a group of them.
            except (Exception, BaseExceptionGroup) as exc:
                report.failures.append(f"{operation.label} ({mode.value} data): {exc}")
    report.methods_checked = _check_undeclared_methods(schema.raw_schema, base_url, session, report.failures)
    report.seconds = time.monotonic() - started
    return report


Operation = APIOperation[Any, Any, Any, Any]


def _generate_and_send(operation: Operation, mode: GenerationMode, base_url: str, session: requests.Session,
                       examples: int, counted: dict[GenerationMode, int]) -> None:  # fmt: skip
    """Hypothesis drives the generation; the first failing case raises, shrunk to a small one."""

    @settings(
        max_examples=examples,
        deadline=DEADLINE,
        derandomize=True,  # the same cases on every run: CI is deterministic
        database=None,  # and never replays examples saved by an earlier run
        suppress_health_check=[HealthCheck.too_slow],  # each example is a network round trip
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Case[Any]) -> None:
        counted[mode] += 1
        case.call_and_validate(base_url=base_url, session=session, checks=list(CHECKS), timeout=20)

    send()


def _check_undeclared_methods(document: dict[str, object], base_url: str, session: requests.Session,
                              failures: list[str]) -> int:  # fmt: skip
    """Every method a path does not declare answers 405 with Allow listing exactly those it does."""
    checked = 0
    paths = document["paths"]
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        declared = sorted(method.upper() for method in operations)
        url = base_url + re.sub(r"\{[^}]+\}", "1", path)  # the method is refused before any parameter is read
        for method in (m for m in METHODS if m not in declared):
            checked += 1
            response = session.request(method, url, timeout=20)
            allow = sorted(filter(None, (m.strip() for m in response.headers.get("Allow", "").split(","))))
            if (response.status_code, allow) != (405, declared):
                failures.append(f"{method} {path}: {response.status_code} Allow {allow}, expected 405 Allow {declared}")
    return checked


@pytest.mark.parametrize("service", ROUTED)
def test_every_answer_keeps_the_services_own_openapi(
    platform: Platform, service: str, record_property: Callable[[str, object], None], capsys: pytest.CaptureFixture[str]
) -> None:
    report = check_contract(service, f"{platform.gateway}/{service}")
    record_property("generated_cases", sum(report.cases.values()))
    with capsys.disabled():  # the number of cases is part of the result, shown even when it passes
        print(f"\n{report.line()}")
    assert report.operations > 0, f"{service}: its OpenAPI document lists no operation"
    assert all(report.cases.values()), f"{service}: no case generated in some mode: {report.cases}"
    assert report.failures == [], "\n\n".join(report.failures)
