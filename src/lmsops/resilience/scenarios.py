"""The scenarios of `nox -s resilience`: updates and faults an LMS must survive under load.

Each one acts on the throwaway deployment (lmsops.resilience.session) and says what it replaced;
the runner measures what the load saw meanwhile and how long the environment took to be back at
its declared replicas, healthy. Updates go through `deploy`, exactly as an operator's would.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmsops.core import proc
from lmsops.core.yamlfile import read_yaml
from lmsops.environments.model import Model
from lmsops.resilience import goals
from lmsops.resilience.session import ResilienceError, Session, wait_until
from lmsops.targets.entrypoint import GATEWAY, routed_services

NEW_SERVICE = "rzroute"  # the service the route-change scenario adds (a copy of the template)
POSTGRES = "postgres"
ROUTE_TABLE = "gateway-routes"


@dataclass
class Act:
    """What a scenario did: the services its deploy replaced, a note, and (for a fault) when the
    fault has taken effect, so recovery is not declared before the fault was even seen."""

    restarted: list[str] = field(default_factory=list)
    note: str = ""
    faulted: Callable[[], bool] | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    goal: str
    act: Callable[[Session], Act]
    check: goals.Check  # the goal as counts: a miss fails the run
    swarm_only: bool = False


def _config_change(session: Session) -> Act:
    data: Any = read_yaml(session.env_file, session.repo.display(session.env_file))
    before = str((data.get("variables") or {}).get("LMS_LOG_LEVEL", "info"))
    after = "warning" if before == "info" else "info"
    session.set_variable("LMS_LOG_LEVEL", after)
    result = session.deploy()
    return Act(result.changed, f"LMS_LOG_LEVEL {before} -> {after}")


def derived_image(session: Session, service: str) -> str:
    """A new image of service with the same content (one more label): a real image update, a new
    digest, without a rebuild. Pushed to the environment's registry when it has one."""
    model = session.model()
    image = str(model.document["services"][service]["image"])
    name = image.split("@", 1)[0] if "@" in image else image.rsplit(":", 1)[0]
    tag = f"{name}:resilience-{time.time_ns()}"
    with tempfile.TemporaryDirectory(prefix="lmsops-rz-") as scratch:
        folder = Path(scratch)
        (folder / "Dockerfile").write_text(f"FROM {image}\n")
        session.docker.build(
            context=folder,
            dockerfile=folder / "Dockerfile",
            tags=[tag],
            build_args={},
            labels={"org.lmsops.resilience": tag.rsplit(":", 1)[1]},
            iidfile=folder / "iid",
        )
    session.derived.append(tag)
    if model.env.target.registry:
        return f"{name}@{session.docker.push(tag)}"
    return tag


def _image_update(session: Session) -> Act:
    service = routed_services(session.model())[0]
    session.pins[service] = derived_image(session, service)
    result = session.deploy()
    return Act(result.changed, f"{service} -> {session.pins[service].rsplit('/', 1)[-1][:40]}")


def _route_change(session: Session) -> Act:
    if (session.repo.services / NEW_SERVICE).exists():
        raise ResilienceError(f"route-change: services/{NEW_SERVICE} exists already in {session.repo.root}")
    copier = [proc.tool("copier") or "copier", "copy", "--defaults", "--data", "team=resilience", "--quiet"]
    stamped = proc.run([*copier, "templates/service", f"services/{NEW_SERVICE}"], cwd=session.repo.root, check=False)
    if stamped.returncode != 0:
        raise ResilienceError(f"route-change: copier copy failed: {stamped.stderr.strip() or stamped.stdout.strip()}")
    session.added.append(NEW_SERVICE)
    result = session.deploy()  # waits until /rzroute/readyz answers 200 through the gateway too
    return Act(result.changed, f"added {NEW_SERVICE} (its database provisioned, its route served)")


def _gateway_update(session: Session) -> Act:
    session.pins[GATEWAY] = derived_image(session, GATEWAY)
    result = session.deploy()
    return Act(result.changed, "gateway (and gateway-routes, the same image) -> a new digest")


def _containers(session: Session, model: Model, service: str) -> list[dict[str, Any]]:
    project = model.project
    if model.env.target.kind == "swarm":
        label = f"com.docker.swarm.service.name={project}_{service}"
    else:
        label = f"com.docker.compose.service={service}"
    found = session.docker.inspect_containers(label)
    own = [c for c in found if project in str(c.get("Name", ""))]
    return [c for c in own if c.get("State", {}).get("Running")]


def _gone_or_restarted(session: Session, killed: dict[str, str]) -> Callable[[], bool]:
    """True once every killed container is not running, or runs again from a new start."""

    def check() -> bool:
        for container, started in killed.items():
            state = session.docker.container_inspect(container).get("State", {})
            if isinstance(state, dict) and state.get("Running") and state.get("StartedAt") == started:
                return False
        return True

    return check


def _kill_tasks(session: Session) -> Act:
    model = session.model()
    stateless = [name for name in model.services if name not in {POSTGRES, GATEWAY}]
    killed: dict[str, str] = {}
    for service in stateless:
        running = _containers(session, model, service)
        if not running:
            raise ResilienceError(f"kill-task: no running container of {service} on this engine")
        victim = running[0]
        killed[str(victim["Id"])] = str(victim["State"]["StartedAt"])
        session.docker.kill_container(str(victim["Id"]))
    return Act([], f"SIGKILL to one task of {', '.join(stateless)}", _gone_or_restarted(session, killed))


def _postgres_restart(session: Session) -> Act:
    model = session.model()
    if model.env.target.kind == "swarm":
        # A new task of the same spec (stop-first): as Swarm restarts a service. Returns once it runs.
        session.docker.service_force_update(f"{model.project}_{POSTGRES}")
        return Act([POSTGRES], "docker service update --force (stop-first: SIGINT, fast shutdown)")
    (container,) = _containers(session, model, POSTGRES)
    started = str(container["State"]["StartedAt"])
    session.docker.restart_container(str(container["Id"]))
    return Act([POSTGRES], "docker restart", _gone_or_restarted(session, {str(container["Id"]): started}))


SCENARIOS = (
    Scenario(
        "config-change",
        "a configuration change that rolls every service",
        "0 failed",
        _config_change,
        goals.rolling_update,
    ),
    Scenario("image-update", "an image update of one service", "0 failed", _image_update, goals.rolling_update),
    Scenario(
        "route-change",
        "a new service appears: its database and its gateway route, live",
        "0 failed; PostgreSQL and the other services not restarted",
        _route_change,
        goals.adds_only(NEW_SERVICE, {NEW_SERVICE, ROUTE_TABLE}),  # the gateway reloads, never restarts
    ),
    Scenario(
        "gateway-update",
        "a gateway image update",
        "as few as the machine allows",  # host-mode publishing: a gap by construction (docs/reliability.md)
        _gateway_update,
        goals.writes_only,
    ),
    Scenario(
        "kill-task",
        "SIGKILL to one task of each stateless service",
        "0 failed reads",
        _kill_tasks,
        goals.no_failed_read,
    ),
    Scenario(
        "postgres-restart",
        "PostgreSQL restarted",
        "503 with a JSON body only; no acknowledged write lost",
        _postgres_restart,
        goals.json_503_only,
    ),
)
NODE_LOSS = Scenario(
    "node-loss",
    "a worker node of the 4-node cluster stopped",
    "at most 1% failed",
    lambda _s: Act(),
    goals.at_most_one_percent_failed,
    swarm_only=True,
)
ALL = {scenario.name: scenario for scenario in (*SCENARIOS, NODE_LOSS)}


def recovered(session: Session, act: Act) -> Callable[[], bool]:
    """Every service back at its declared replicas, healthy, no update under way, the fault seen."""
    declared = set(session.model().services)

    def check() -> bool:
        if act.faulted is not None and not act.faulted():
            return False
        rows = session.status()
        if {row.service for row in rows} != declared:
            return False
        return all(row.running == row.desired and _healthy(row.health) for row in rows)

    return check


def _healthy(health: str) -> bool:
    return health.startswith("healthy") and not any(word in health for word in ("updating", "rollback", "paused"))


def wait_recovered(session: Session, act: Act, timeout: float) -> float:
    return wait_until(recovered(session, act), "every service back at its replicas, healthy", timeout)
