"""After a deploy converges: every routed service answers through the gateway, as users reach it.

Healthy tasks are not yet a served LMS: the gateway follows the services' addresses (it looks them
up every two seconds), so right after a rolling update it can still hold only the addresses of the
tasks that were just replaced. A deploy reports success when `GET /<service>/readyz` through the
gateway's published port answers 200 for every service the gateway routes, and fails naming the
service and the last answer otherwise.

Only a gateway published on this machine is checked (a local engine: lmsops talks to loopback); a
deploy to another engine says so in one line instead of pretending.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmsops.core.errors import DeployError
from lmsops.core.progress import Reporter
from lmsops.environments.model import Model

GATEWAY = "gateway"
_POLL_SECONDS = 0.25
_REQUEST_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Answer:
    status: int  # -1: no HTTP answer (the reason is in body)
    body: str


def routed_services(model: Model) -> list[str]:
    """The names in the route table of the resolved model: LMS_GATEWAY_ROUTES ("name=host:port ...")
    of the service that holds it (gateway-routes, which serves it to the gateway)."""
    names: list[str] = []
    for service in (model.document.get("services") or {}).values():
        routes = str((service.get("environment") or {}).get("LMS_GATEWAY_ROUTES") or "")
        names += [route.split("=", 1)[0] for route in routes.split() if route.split("=", 1)[0] not in names]
    return names


def local_gateway_url(model: Model) -> str | None:
    """http://127.0.0.1:<port> when the gateway is published on this machine's engine, else None."""
    target = model.env.target
    docker_host = os.environ.get("DOCKER_HOST", "")
    if target.context or target.host or (docker_host and not docker_host.startswith("unix://")):
        return None
    gateway = model.document.get("services", {}).get(GATEWAY) or {}
    on_this_machine = {"127.0.0.1", "0.0.0.0"}  # noqa: S104 - bind addresses compared, nothing is bound
    for port in gateway.get("ports") or []:
        if not isinstance(port, dict) or not port.get("published"):
            continue
        if str(port.get("host_ip") or "127.0.0.1") in on_this_machine:
            return f"http://127.0.0.1:{port['published']}"
    return None


def ask(url: str) -> Answer:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"lmsops checks a gateway on loopback only, not {url}")
    try:
        with urllib.request.urlopen(url, timeout=_REQUEST_TIMEOUT_SECONDS) as response:  # noqa: S310 - loopback only
            return Answer(response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read().decode(errors="replace"))
    except OSError as error:
        return Answer(-1, f"{type(error).__name__}: {error}")


def check_entry_point(model: Model, report: Reporter, timeout: float, logs: Callable[[str], str]) -> None:
    """Wait until every routed service answers ready through the gateway; DeployError otherwise.
    logs: the target's command that shows a service's logs (named in the error)."""
    services = routed_services(model)
    if not services:
        return
    base = local_gateway_url(model)
    if base is None:
        report.say(f"    {GATEWAY}: not checked from here (the gateway is published on another engine)")
        return
    started = time.monotonic()
    deadline = started + timeout
    for service in services:
        url = f"{base}/{service}/readyz"
        while True:
            answer = ask(url)
            if answer.status == 200:
                break
            if time.monotonic() > deadline:
                raise DeployError(
                    f"{model.env.name}: the services run, but the gateway does not serve {service}: "
                    f"GET {url} answered {_shown(answer)} for {timeout:.0f} s; "
                    f"see the gateway's log: {logs(GATEWAY)}"
                )
            time.sleep(_POLL_SECONDS)
    report.say(f"    {GATEWAY}: serves {', '.join(services)} on {base} ({time.monotonic() - started:.1f} s)")


def _shown(answer: Answer) -> str:
    if answer.status < 0:
        return answer.body
    try:
        body: Any = json.loads(answer.body)
    except ValueError:
        body = answer.body.strip()
    return f"{answer.status} {json.dumps(body)[:200]}"
