"""`nox -s resilience -- ENV [SCENARIO...]`: each scenario under steady load, then what it cost.

For each scenario: the load runs until a number of requests were answered (the before), the
scenario acts, the runner waits until every service is back at its declared replicas and healthy
(the recovery time), the load runs on for as many answers again (the after), and stops. Then every
acknowledged write is read back (none may be lost) and every course the load tried to create is
checked whole (none may be half-applied). The table is printed and written as JSON under
.lmsops/reports/.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import httpx

from lmsops.bench.throwaway import throwaway_environments
from lmsops.cluster import CONTEXT, Node, cluster_down, cluster_up
from lmsops.core import gitinfo
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count, seconds
from lmsops.core.swarmapi import running_task
from lmsops.environments.config import known_environments
from lmsops.images.context import Context
from lmsops.images.wheelhouse import share_wheel_cache
from lmsops.resilience.goals import missed
from lmsops.resilience.load import MODULES_PER_COURSE, Load, LoadResult, LoadShape
from lmsops.resilience.report import ScenarioReport, summarise, table, write_json
from lmsops.resilience.scenarios import ALL, NODE_LOSS, SCENARIOS, Act, Scenario, wait_recovered
from lmsops.resilience.session import ResilienceError, Session, gateway_bases, wait_until
from lmsops.targets.status import down, environment

SUFFIX = "-rz"
CLUSTER_SUFFIX = "-rzc"
ANSWERS_BEFORE = 60  # ok answers before a scenario acts, and again after it recovered
PHASE_TIMEOUT = 120.0
# A manager and three workers: PostgreSQL (its volume is node-local) and the gateway (one task in
# host mode on this machine kind) take at most two workers, so one worker runs neither.
CLUSTER_NODES = 4


def choose(env_name: str, kind: str, names: Sequence[str]) -> list[Scenario]:
    unknown = [name for name in names if name not in ALL]
    if unknown:
        raise ConfigError(f"no scenario {unknown[0]!r}; known: {', '.join(ALL)}")
    chosen = [ALL[name] for name in names] if names else [*SCENARIOS, *([NODE_LOSS] if kind == "swarm" else [])]
    refused = [s.name for s in chosen if s.swarm_only and kind != "swarm"]
    if refused:
        raise ConfigError(
            f"{env_name} is a {kind} target; {refused[0]} needs a Swarm environment (staging, production)"
        )
    return chosen


def resilience(
    repo: Repo,
    docker: Docker,
    env_name: str,
    names: Sequence[str],
    report: Reporter,
    shape: LoadShape | None = None,
    *,
    init_swarm: bool = False,
) -> list[ScenarioReport]:
    """Run the scenarios on throwaway copies of env_name; print and write the report; return it."""
    if env_name not in known_environments(repo):
        raise ConfigError(f"unknown environment {env_name!r}; known: {', '.join(known_environments(repo))}")
    docker.require_engine()
    shape = shape or LoadShape()
    started = time.monotonic()
    commit = gitinfo.git(repo.root, "rev-parse", "--short", "HEAD", check=False).stdout.strip() or "uncommitted"
    if gitinfo.dirty_files(repo.root):
        report.say(f"resilience: runs commit {commit}, as committed (uncommitted changes are not part of it)")
    reports: list[ScenarioReport] = []
    with tempfile.TemporaryDirectory(prefix="lmsops-rz-") as scratch:
        clone = Path(scratch) / "lms"
        cloned = gitinfo.git(repo.root, "clone", "--quiet", str(repo.root), str(clone), check=False)
        if cloned.returncode != 0:
            raise ResilienceError(f"resilience: git clone of {repo.root} failed: {cloned.stderr.strip()}")
        share_wheel_cache(repo, Repo(clone))  # scenarios build images: no second download of the same wheels
        kind = _kind(Repo(clone), env_name)
        chosen = choose(env_name, kind, names)
        local = [s for s in chosen if s is not NODE_LOSS]
        if local:
            reports += _on_this_engine(Repo(clone), docker, env_name, local, report, shape, init_swarm)
        if NODE_LOSS in chosen:
            reports.append(_on_the_cluster(Repo(clone), docker, env_name, report, shape))
    report.say("")
    report.say(table(reports))
    path = write_json(repo, env_name, commit, reports)
    report.say(f"resilience: {count(len(reports), 'scenario')} in {seconds(started)}; report: {repo.display(path)}")
    for scenario in reports:
        if scenario.missed:
            report.say(
                f"resilience: {scenario.scenario} missed its goal ({scenario.goal}): {'; '.join(scenario.missed)}"
            )
    return reports


def _kind(repo: Repo, env_name: str) -> str:
    return environment(repo, env_name).target.kind  # read from its files: nothing is deployed yet


@contextmanager
def _deployed(session: Session, report: Reporter) -> Iterator[None]:
    try:
        started = time.monotonic()
        report.say(f"==> resilience: deploying a throwaway {session.env_name} ({session.project})")
        session.deploy()
        report.say(f"    deployed in {seconds(started)}")
        yield
    finally:
        with session.secret_values():
            down(session.repo, session.docker, session.env_name, True, session.quiet)
        for tag in session.derived:
            session.docker.remove_image(tag)
        for service in session.added:
            for tag in session.docker.image_tags(f"lmsops/{service}"):
                session.docker.remove_image(tag)


def _on_this_engine(
    clone: Repo,
    docker: Docker,
    env_name: str,
    chosen: list[Scenario],
    report: Reporter,
    shape: LoadShape,
    init_swarm: bool,
) -> list[ScenarioReport]:
    port = _free_port()
    copy = throwaway_environments(clone, SUFFIX, {env_name: {"LMS_GATEWAY_PORT": str(port)}})
    session = Session(copy, docker, env_name, report, Reporter(StringIO()), init_swarm=init_swarm)
    reports = []
    with _deployed(session, report):
        session.bases = gateway_bases(session.model())
        prefix, seed = seed_course(session.bases)
        for scenario in chosen:
            reports.append(_measure(session, scenario, prefix, seed, shape))
    return reports


def _on_the_cluster(clone: Repo, docker: Docker, env_name: str, report: Reporter, shape: LoadShape) -> ScenarioReport:
    report.say(f"==> resilience: a {CLUSTER_NODES}-node cluster for node-loss (nox -s cluster)")
    cluster_down(clone, docker, Reporter(StringIO()))  # what an interrupted earlier run left
    try:
        nodes = cluster_up(Context(clone, docker, Reporter(StringIO()), "offline"), nodes=CLUSTER_NODES)
        port = _free_port()
        copy = throwaway_environments(
            clone, CLUSTER_SUFFIX, {env_name: {"LMS_GATEWAY_PORT": str(port)}}, context=CONTEXT
        )
        session = Session(copy, docker, env_name, report, Reporter(StringIO()))
        with _deployed(session, report):
            session.bases = [f"http://{node.address}:{port}" for node in nodes]
            prefix, seed = seed_course(session.bases)
            manager = docker.for_target(CONTEXT, None)
            return measure_node_loss(session, manager, nodes, prefix, seed, shape)
    finally:
        cluster_down(clone, docker, Reporter(StringIO()))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed_course(bases: list[str]) -> tuple[str, int]:
    """The run's course-code prefix and a course every enrollment of the load refers to."""
    prefix = f"rz{secrets.token_hex(3)}-"
    for base in bases:
        try:
            seed = {"code": f"{prefix}seed", "title": "Seed", "published": True}
            answer = httpx.post(f"{base}/catalog/courses", json=seed, timeout=10, trust_env=False)
        except httpx.HTTPError:
            continue
        if answer.status_code == 201:
            return prefix, int(answer.json()["id"])
        raise ResilienceError(
            f"resilience: creating the seed course answered {answer.status_code}: {answer.text[:200]}"
        )
    raise ResilienceError(f"resilience: no gateway answered at {', '.join(bases)}")


def _measure(session: Session, scenario: Scenario, prefix: str, seed: int, shape: LoadShape) -> ScenarioReport:
    report = session.report
    report.say(f"==> {scenario.name}: {scenario.summary} (goal: {scenario.goal})")
    with Load(session.bases, shape, seed, f"{prefix}{scenario.name[:6]}-") as load:
        _wait_answers(load, time.monotonic())
        acted = time.monotonic()
        act = scenario.act(session)
        recovery = (time.monotonic() - acted) + wait_recovered(session, act, session.model().env.file.deploy.timeout)
        _wait_answers(load, time.monotonic())
    result = load.result
    return _finish(session, scenario, result, recovery, act)


def _wait_answers(load: Load, since: float) -> None:
    def enough() -> bool:
        if not load.running:
            raise ResilienceError(f"resilience: the load stopped: {load.error!r}")
        return load.answered(since) >= ANSWERS_BEFORE

    wait_until(enough, f"{ANSWERS_BEFORE} answered requests", PHASE_TIMEOUT, every=0.1)


def _finish(session: Session, scenario: Scenario, result: LoadResult, recovery: float, act: Act) -> ScenarioReport:
    lost, half = _check_writes(session.bases, result)
    summary = summarise(
        scenario.name, scenario.summary, scenario.goal, result.outcomes,
        recovery_s=recovery, lost_writes=lost, half_applied=half, restarted=act.restarted, note=act.note,
        client_retries=result.client_retries,
    )  # fmt: skip
    summary.missed = missed(summary, scenario.check)
    failed = ", ".join(f"{n} {kind}" for kind, n in summary.failed.items()) or "none"
    session.report.say(
        f"    {summary.requests} requests, failed: {failed}; back in {recovery:.1f} s; "
        f"lost writes {lost}, half-applied {half}"
        + (f"; replaced: {', '.join(act.restarted)}" if act.restarted else "")
    )
    session.report.say(f"    goal {'MISSED: ' + '; '.join(summary.missed) if summary.missed else 'met'}")
    return summary


def _check_writes(bases: list[str], result: LoadResult) -> tuple[int, int]:
    """(acknowledged writes not found, courses of this load found without all their modules)."""
    # A short connect timeout and the node that answered last first: after node-loss one address
    # never answers, and hundreds of reads must not each wait for it.
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=2.0), trust_env=False) as client:
        preferred = 0

        def get(path: str) -> httpx.Response:
            """A read-back answer that is not a server error: 200, or 404 for what is not there."""
            nonlocal preferred
            last = "no answer"
            for _attempt in range(20):  # the environment recovered; a 5xx now is transient, retried
                for offset in range(len(bases)):
                    index = (preferred + offset) % len(bases)
                    try:
                        answer = client.get(bases[index] + path)
                    except httpx.HTTPError as exc:
                        last = f"{type(exc).__name__}: {exc}"
                        continue
                    if answer.status_code < 500:
                        preferred = index
                        return answer
                    last = f"status {answer.status_code}: {answer.text[:120]}"
                time.sleep(0.5)
            raise ResilienceError(f"resilience: reading back {path} failed 20 times; last: {last}")

        lost = 0
        for created in result.acknowledged:
            path = (
                f"/catalog/courses/{created.id}"
                if created.kind == "course"
                else f"/enrollment/enrollments/{created.id}"
            )
            lost += get(path).status_code != 200
        attempted = set(result.attempted_codes)
        half, offset = 0, 0
        while attempted:
            answer = get(f"/catalog/courses?limit=100&offset={offset}")
            if answer.status_code != 200:
                raise ResilienceError(f"resilience: listing courses answered {answer.status_code}: {answer.text[:120]}")
            page = answer.json()
            for course in page["items"]:
                if course["code"] in attempted and len(course["modules"]) != MODULES_PER_COURSE:
                    half += 1
            offset += 100
            if offset >= page["total"]:
                break
    return lost, half


def measure_node_loss(
    session: Session, manager: Docker, nodes: list[Node], prefix: str, seed: int, shape: LoadShape
) -> ScenarioReport:
    report, stack = session.report, session.model().project
    report.say(f"==> {NODE_LOSS.name}: {NODE_LOSS.summary} (goal: {NODE_LOSS.goal})")
    services = session.model().document["services"]
    desired = {name: int(spec.get("deploy", {}).get("replicas", 1)) for name, spec in services.items()}
    placed = tasks_by_node(manager, stack)
    # A worker with neither PostgreSQL (its data is on that node) nor the one host-mode gateway (its
    # loss is an outage until Swarm reschedules it: docs/reliability.md).
    taken = {*placed.get("postgres", []), *placed.get("gateway", [])}
    victims = [n.name for n in nodes if not n.manager and n.name not in taken]
    if not victims:
        raise ResilienceError(f"node-loss: every worker runs PostgreSQL or the gateway ({placed}); add a node")
    victim = victims[0]
    with Load(session.bases, shape, seed, f"{prefix}node-") as load:
        _wait_answers(load, time.monotonic())
        acted = time.monotonic()
        session.docker.stop_container(victim, 0)  # the host engine runs the node containers

        def back() -> bool:
            now = tasks_by_node(manager, stack)
            return all(len(now.get(name, [])) == count for name, count in desired.items()) and all(
                victim not in hosts for hosts in now.values()
            )

        recovery = (time.monotonic() - acted) + wait_until(back, "every service off the lost node", 180)
        _wait_answers(load, time.monotonic())
    act = Act([], f"docker stop {victim} (a worker without PostgreSQL or the gateway)")
    return _finish(session, NODE_LOSS, load.result, recovery, act)


def tasks_by_node(manager: Docker, stack: str) -> dict[str, list[str]]:
    """service -> the hostnames of the Ready nodes that run one of its tasks."""
    ready = manager.ready_node_hostnames()
    names = {str(s["ID"]): str(s["Spec"]["Name"]).removeprefix(f"{stack}_") for s in manager.stack_services(stack)}
    placed: dict[str, list[str]] = {}
    for task in manager.stack_tasks(stack):
        service = names.get(str(task.get("ServiceID", "")))
        if service is not None and running_task(task) and task.get("NodeID") in ready:
            placed.setdefault(service, []).append(ready[str(task["NodeID"])])
    return placed
