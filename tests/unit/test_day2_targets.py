"""The day-2 methods of both kinds of target (ps, logs, exec, run) on the real Docker adapter over a
scripted engine (tests/unit/adapter_fakes.py): what docker is asked, and what comes back."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError, ConfigError, DeployError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.core.swarmapi import job_options
from lmsops.environments.database_jobs import JOB_LABEL
from lmsops.targets import swarm_day2
from lmsops.targets.base import LogOptions, Task, short_image
from lmsops.targets.compose import ComposeTarget
from lmsops.targets.swarm import SwarmTarget
from tests.unit.adapter_fakes import Answer, Call, ScriptedEngine, fake_clock, scripted_engine
from tests.unit.target_fakes import environment

STARTED = "2026-11-27T15:01:48.595343848Z"
CATALOG_ID = "c90b2449cf78"


def no_nodes() -> dict[str, str]:
    raise AssertionError("the node engines are asked only for a task on another node")


# -- Compose ----------------------------------------------------------------------------------------
def compose_ps_line(service: str, cid: str, state: str = "running", health: str = "healthy", **extra: Any) -> str:
    item = {"ID": cid, "Name": f"lms-dev-{service}-1", "Service": service, "State": state, "Health": health,
            "Image": f"lmsops/{service}:0.1.0-abc", "Publishers": [], **extra}  # fmt: skip
    return json.dumps(item)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    return scripted_engine(monkeypatch)


def compose_target(project: Repo, tmp_path: Path) -> ComposeTarget:
    return ComposeTarget(environment(project, "dev"), Docker(), tmp_path / "work")


def test_compose_ps_lists_each_container_with_its_health_start_time_and_published_ports(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    gateway = {"URL": "127.0.0.1", "TargetPort": 8080, "PublishedPort": 8000, "Protocol": "tcp"}
    exposed = {"URL": "", "TargetPort": 8001, "PublishedPort": 0, "Protocol": "tcp"}
    lines = [
        compose_ps_line("gateway", "a1", health="", Publishers=[gateway, exposed]),
        compose_ps_line("catalog", CATALOG_ID),
        compose_ps_line("postgres", "b2", state="exited", health=""),
    ]
    engine.answer("compose", stdout="\n".join(lines))
    inspected = [{"Id": CATALOG_ID + "f" * 52, "State": {"StartedAt": STARTED}}, {"Id": "a1" + "0" * 62, "State": {}}]
    engine.answer("container", "inspect", stdout=json.dumps(inspected))
    assert compose_target(project, tmp_path).tasks() == [
        Task("catalog", "lms-dev-catalog-1", "", "running", "healthy", "lmsops/catalog:0.1.0-abc", STARTED, ""),
        Task("gateway", "lms-dev-gateway-1", "", "running", "-", "lmsops/gateway:0.1.0-abc", "",
             "127.0.0.1:8000->8080/tcp"),
        Task("postgres", "lms-dev-postgres-1", "", "exited", "-", "lmsops/postgres:0.1.0-abc", "", ""),
    ]  # fmt: skip
    assert engine.verbs[-1] == ["container", "inspect", "a1", CATALOG_ID, "b2"]


def test_compose_logs_of_some_services_since_a_time_are_read_line_by_line(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    engine.answer("compose", stdout="catalog-1  | started\ncatalog-1  | GET /health 200\n")
    lines: list[str] = []
    compose_target(project, tmp_path).logs(["catalog"], LogOptions(follow=True, since="10m", tail=5), lines.append)
    assert lines == ["catalog-1  | started", "catalog-1  | GET /health 200"]
    assert engine.verbs[-1] == [
        "compose", "--project-name", "lms-dev", "logs", "--no-color", "--follow", "--since", "10m", "--tail", "5",
        "catalog",
    ]  # fmt: skip


def test_compose_logs_that_docker_refuses_fail_with_its_words(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    engine.answer("compose", stdout="no such service: nope", returncode=1)
    with pytest.raises(CommandError, match="no such service: nope"):
        compose_target(project, tmp_path).logs([], LogOptions(), lambda _line: None)


def test_compose_exec_runs_in_the_running_container_of_the_service_and_passes_its_exit_code(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    lines = [compose_ps_line("catalog", "old", state="exited"), compose_ps_line("catalog", CATALOG_ID)]
    engine.answer("compose", stdout="\n".join(lines))
    engine.answer("exec", returncode=7)
    target = compose_target(project, tmp_path)
    assert target.exec_in("catalog", ["cat", "/srv/build-info.json"], tty=False, node_engines=no_nodes) == 7
    assert engine.verbs[-1] == ["exec", "--interactive", CATALOG_ID, "cat", "/srv/build-info.json"]
    target.exec_in("catalog", ["sh"], tty=True, node_engines=no_nodes)
    assert engine.verbs[-1] == ["exec", "--interactive", "--tty", CATALOG_ID, "sh"]


def test_compose_exec_without_a_running_container_says_so(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    engine.answer("compose", stdout=compose_ps_line("catalog", "x", state="exited"))
    with pytest.raises(DeployError, match=r"^dev: catalog has no running container; see `nox -s ps -- dev`$"):
        compose_target(project, tmp_path).exec_in("catalog", ["ls"], tty=False, node_engines=no_nodes)
    assert [verb[:1] for verb in engine.verbs] == [["compose"]], "nothing run"


def test_compose_run_is_compose_run_rm_no_deps_on_the_last_deployed_model(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    target = compose_target(project, tmp_path)
    model = tmp_path / "work" / "last-good.yaml"
    model.parent.mkdir(parents=True)
    model.write_text("services: {}\n")
    engine.answer("compose", returncode=3)
    assert target.run_once("catalog", ["python3", "-c", "exit(3)"], tty=False, report=Reporter(io.StringIO())) == 3
    assert engine.verbs[-1] == [
        "compose", "--project-name", "lms-dev", "--file", str(model),
        "run", "--rm", "--no-deps", "--label", f"{JOB_LABEL}=run", "-T", "catalog", "python3", "-c", "exit(3)",
    ]  # fmt: skip
    target.run_once("catalog", ["sh"], tty=True, report=Reporter(io.StringIO()))
    assert "-T" not in engine.verbs[-1], "a terminal when stdin is one"


def test_compose_run_before_any_deploy_from_this_checkout_says_to_deploy(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    with pytest.raises(ConfigError, match=r"nothing was deployed from this checkout .*nox -s deploy -- dev"):
        compose_target(project, tmp_path).run_once("catalog", ["ls"], tty=False, report=Reporter(io.StringIO()))
    assert engine.calls == []


# -- Swarm ------------------------------------------------------------------------------------------
STACK = "lms-staging"
NODE = "ocvgj3zzd4ixbs539nna2z9mg"
OTHER = "n2n2n2n2n2n2n2n2n2n2n2n2n"
DIGEST = "sha256:913b9c7591a7d67b95accef970777d2eeda57a542b94a90a7b846a4a3c4447da"


def swarm_task(
    task_id: str, service: str, slot: int, state: str = "running", node: str = NODE, ports: Any = None
) -> dict[str, Any]:
    return {
        "ID": task_id, "ServiceID": f"id-{service}", "Slot": slot, "NodeID": node, "DesiredState": "running",
        "Spec": {"ContainerSpec": {"Image": f"127.0.0.1:5000/lmsops/{service}@{DIGEST}"}},
        "Status": {"State": state, "Timestamp": "2026-11-27T15:00:00Z",
                   "ContainerStatus": {"ContainerID": f"container-{task_id}", "ExitCode": 0},
                   **({"PortStatus": {"Ports": ports}} if ports else {})},
    }  # fmt: skip


def swarm_service(service: str, **spec: Any) -> dict[str, Any]:
    return {"ID": f"id-{service}", "Spec": {"Name": f"{STACK}_{service}", **spec}, "Endpoint": {}}


def swarm_target(project: Repo, tmp_path: Path) -> SwarmTarget:
    return SwarmTarget(environment(project, "staging"), Docker(), tmp_path / "work")


def script_stack(engine: ScriptedEngine, services: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
    engine.answer("service", "ls", stdout="\n".join(s["ID"] for s in services))
    engine.answer("service", "inspect", stdout=json.dumps(services))
    engine.answer("stack", "ps", stdout="\n".join(t["ID"] for t in tasks))
    engine.answer("inspect", stdout=json.dumps(tasks))


def test_swarm_ps_lists_the_tasks_swarm_wants_running_with_their_node_health_and_ports(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    gone = swarm_task("t0", "catalog", 1, state="shutdown") | {"DesiredState": "shutdown"}
    host_port = [{"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 18555}] * 2  # IPv4 and IPv6
    tasks = [gone, swarm_task("t1", "catalog", 1), swarm_task("t2", "catalog", 2, state="starting", node=OTHER),
             swarm_task("t3", "gateway", 1, ports=host_port)]  # fmt: skip
    script_stack(engine, [swarm_service("catalog"), swarm_service("gateway")], tasks)
    engine.answer("node", "ls", stdout=f"{NODE} vm\n{OTHER} node-2\n")
    engine.answer("container", "inspect", stdout=json.dumps(
        [{"Id": "container-t1", "State": {"StartedAt": STARTED, "Health": {"Status": "healthy"}}}]
    ))  # fmt: skip
    image = f"lmsops/catalog@{DIGEST[7:19]}"
    assert swarm_target(project, tmp_path).tasks() == [
        Task("catalog", f"{STACK}_catalog.1", "vm", "running", "healthy", image, STARTED, ""),
        Task("catalog", f"{STACK}_catalog.2", "node-2", "starting", "-", image, "", ""),
        Task("gateway", f"{STACK}_gateway.1", "vm", "running", "-", f"lmsops/gateway@{DIGEST[7:19]}",
             "2026-11-27T15:00:00Z", "18555->8080/tcp"),
    ]  # fmt: skip


def test_swarm_logs_without_follow_interleave_the_services_by_time_each_line_named_by_its_task(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    printed = {
        f"{STACK}_catalog": f"2026-11-27T15:00:01Z {STACK}_catalog.1.abc@vm    | catalog one\n"
        f"2026-11-27T15:00:03Z {STACK}_catalog.2.def@vm    | catalog three\n",
        f"{STACK}_gateway": f"2026-11-27T15:00:02Z {STACK}_gateway.1.ghi@vm    | gateway two\n"
        "error from daemon in stream: gone\n",
    }

    def answer(call: Call) -> Answer:
        return Answer(stdout=printed[call.args[-1]])

    engine.on("service", "logs", handler=answer)
    lines: list[str] = []
    swarm_target(project, tmp_path).logs(["catalog", "gateway"], LogOptions(since="1h", tail=10), lines.append)
    assert lines == [
        "gateway | error from daemon in stream: gone",
        "catalog.1@vm | catalog one",
        "gateway.1@vm | gateway two",
        "catalog.2@vm | catalog three",
    ]
    assert sorted(engine.verbs) == [
        ["service", "logs", "--timestamps", "--since", "1h", "--tail", "10", f"{STACK}_{name}"]
        for name in ("catalog", "gateway")
    ]


def test_swarm_logs_of_every_service_follow_as_lines_come_and_a_failure_is_an_error(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    engine.answer("service", "ls", stdout="id-catalog\n")
    engine.answer("service", "inspect", stdout=json.dumps([swarm_service("catalog")]))
    engine.answer("service", "logs", stdout=f"2026-11-27T15:00:01Z {STACK}_catalog.1.abc@vm    | hello\n", returncode=1)
    lines: list[str] = []
    with pytest.raises(CommandError, match=f"docker service logs {STACK}_catalog"):
        swarm_target(project, tmp_path).logs([], LogOptions(follow=True), lines.append)
    assert lines == ["catalog.1@vm | hello"]
    assert engine.verbs[-1] == ["service", "logs", "--timestamps", "--follow", f"{STACK}_catalog"]


def script_service_tasks(engine: ScriptedEngine, tasks: list[dict[str, Any]]) -> None:
    engine.answer("service", "ps", stdout="\n".join(t["ID"] for t in tasks))
    engine.answer("inspect", stdout=json.dumps(tasks))


def test_swarm_exec_runs_in_a_running_task_on_this_engine(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    script_service_tasks(engine, [swarm_task("t1", "catalog", 1, state="starting"), swarm_task("t2", "catalog", 2)])
    engine.answer("info", stdout=f"{NODE}\n")
    engine.answer("exec", returncode=3)
    target = swarm_target(project, tmp_path)
    assert target.exec_in("catalog", ["ls", "/srv"], tty=True, node_engines=no_nodes) == 3
    assert engine.verbs[-1] == ["exec", "--interactive", "--tty", "container-t2", "ls", "/srv"]


def test_swarm_exec_on_another_node_uses_its_engine_when_lmsops_knows_it(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    script_service_tasks(engine, [swarm_task("t1", "catalog", 1, node=OTHER)])
    engine.answer("info", stdout=f"{NODE}\n")
    target = swarm_target(project, tmp_path)
    assert target.exec_in("catalog", ["ls"], tty=False, node_engines=lambda: {OTHER: "unix:///n2.sock"}) == 0
    assert engine.calls[-1].argv[1:] == ["exec", "--interactive", "container-t1", "ls"]
    assert engine.calls[-1].env is not None and engine.calls[-1].env["DOCKER_HOST"] == "unix:///n2.sock"


def test_swarm_exec_on_a_node_lmsops_cannot_reach_says_where_the_container_is(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    script_service_tasks(engine, [swarm_task("t1", "catalog", 1, node=OTHER)])
    engine.answer("info", stdout=f"{NODE}\n")
    engine.answer("node", "ls", stdout=f"{OTHER} node-2\n")
    engine.answer("node", "inspect", stdout="10.0.0.3\n")
    with pytest.raises(PrerequisiteError) as refused:
        swarm_target(project, tmp_path).exec_in("catalog", ["ls"], tty=False, node_engines=dict)
    assert str(refused.value).startswith(
        f"staging: the running task {STACK}_catalog.1 of catalog is on node node-2 (10.0.0.3), not on the engine"
    )
    assert "docker exec -it container-t1 ls" in str(refused.value)
    assert not any(verb[:1] == ["exec"] for verb in engine.verbs)


def test_swarm_exec_without_a_running_task_says_so(project: Repo, tmp_path: Path, engine: ScriptedEngine) -> None:
    script_service_tasks(engine, [swarm_task("t1", "catalog", 1, state="starting")])
    with pytest.raises(DeployError, match=r"^staging: catalog has no running task"):
        swarm_target(project, tmp_path).exec_in("catalog", ["ls"], tty=False, node_engines=no_nodes)


TEMPLATE: dict[str, Any] = {
    "ContainerSpec": {
        "Image": f"127.0.0.1:5000/lmsops/catalog@{DIGEST}",
        "Env": ["LMS_ENV=staging", "LMS_DATABASE_PASSWORD_FILE=/run/secrets/catalog-db-password"],
        "User": "10001:10001", "ReadOnly": True, "CapabilityDrop": ["ALL"],
        "Secrets": [{"File": {"Name": "catalog-db-password", "UID": "10001", "GID": "10001", "Mode": 256},
                     "SecretID": "s1", "SecretName": "lms-staging_catalog-db-password_0123456789"}],
        "Mounts": [{"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"Mode": 1023}}],
    },
    "Networks": [{"Target": "net-backend"}],
    "Resources": {"Limits": {"NanoCPUs": 500000000, "MemoryBytes": 268435456, "Pids": 128}},
    "Placement": {"Constraints": ["node.role==manager"]},
}  # fmt: skip


def test_a_job_has_the_settings_of_the_services_task_template() -> None:
    assert job_options(TEMPLATE) == [
        "--env", "LMS_ENV=staging", "--env", "LMS_DATABASE_PASSWORD_FILE=/run/secrets/catalog-db-password",
        "--user", "10001:10001", "--read-only", "--cap-drop", "ALL",
        "--secret", "source=lms-staging_catalog-db-password_0123456789,target=catalog-db-password,uid=10001,"
                    "gid=10001,mode=0400",
        "--mount", "type=tmpfs,destination=/tmp,tmpfs-mode=1777",
        "--network", "net-backend", "--constraint", "node.role==manager",
        "--limit-memory", "268435456b", "--limit-cpu", "0.5", "--limit-pids", "128",
    ]  # fmt: skip


def job_engine(engine: ScriptedEngine, outcome: dict[str, Any], states: tuple[str, ...] = ("preparing",)) -> None:
    engine.answer("service", "inspect", stdout=json.dumps([{"ID": "id-catalog", "Spec": {"TaskTemplate": TEMPLATE}}]))
    engine.answer("service", "ps", stdout="job-task\n")
    for state in states:
        engine.answer("inspect", stdout=json.dumps([{"ID": "job-task", "Status": {"State": state}}]))
    engine.answer("inspect", stdout=json.dumps([{"ID": "job-task", "Status": outcome}]))


def test_swarm_run_is_a_job_with_the_services_settings_its_output_shown_then_removed(
    project: Repo, tmp_path: Path, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = fake_clock(monkeypatch, swarm_day2)
    job_engine(engine, {"State": "failed", "ContainerStatus": {"ExitCode": 3}}, ("pending", "running", "running"))
    engine.answer("ps", stdout="job-container\n")  # the swarm keeps a finished job's container
    out = io.StringIO()
    code = swarm_target(project, tmp_path).run_once("catalog", ["python3", "-c", "exit(3)"], tty=False,
                                                    report=Reporter(out))  # fmt: skip
    assert code == 3
    create = next(verb for verb in engine.verbs if verb[:2] == ["service", "create"])
    job = create[create.index("--name") + 1]
    assert job.startswith(f"{STACK}_run-catalog-")
    assert create[create.index("--mode") + 1] == "replicated-job"
    assert create[create.index("--restart-condition") :][:2] == ["--restart-condition", "none"]
    assert f"{JOB_LABEL}=run" in create and f"org.lmsops.run.of={STACK}_catalog" in create
    assert create[-len(job_options(TEMPLATE)) - 4 :] == [*job_options(TEMPLATE), TEMPLATE["ContainerSpec"]["Image"],
                                                          "python3", "-c", "exit(3)"]  # fmt: skip
    assert engine.verbs[-4:] == [
        ["service", "logs", "--raw", job], ["service", "rm", job],
        ["ps", "--all", "--quiet", "--filter", f"label=com.docker.swarm.service.name={job}"],
        ["rm", "--force", "--volumes", "job-container"],
    ]  # fmt: skip
    assert clock.sleeps == [0.5, 0.5, 0.5], "read until the job is done"
    assert out.getvalue().startswith(f"==> staging: python3 -c exit(3) as the one-off job {job}")


def test_swarm_run_of_a_command_that_succeeds_returns_0(
    project: Repo, tmp_path: Path, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_clock(monkeypatch, swarm_day2)
    job_engine(engine, {"State": "complete", "ContainerStatus": {"ExitCode": 0}})
    out = io.StringIO()
    assert swarm_target(project, tmp_path).run_once("catalog", ["true"], tty=True, report=Reporter(out)) == 0
    assert "a Swarm job has no terminal" in out.getvalue()


def test_swarm_run_that_the_swarm_rejects_is_an_error_and_the_job_is_removed(
    project: Repo, tmp_path: Path, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_clock(monkeypatch, swarm_day2)
    job_engine(engine, {"State": "rejected", "Err": "No such image: lmsops/catalog"})
    with pytest.raises(DeployError, match=r"did not run: No such image: lmsops/catalog$"):
        swarm_target(project, tmp_path).run_once("catalog", ["true"], tty=False, report=Reporter(io.StringIO()))
    assert engine.verbs[-2][:2] == ["service", "rm"] and engine.verbs[-1][:2] == ["ps", "--all"]


def test_swarm_run_of_a_service_that_is_not_deployed_creates_nothing(
    project: Repo, tmp_path: Path, engine: ScriptedEngine
) -> None:
    engine.answer("service", "inspect", stdout="[]", returncode=1)
    with pytest.raises(DeployError, match=r"^staging: catalog is not deployed \(no service lms-staging_catalog\)"):
        swarm_target(project, tmp_path).run_once("catalog", ["true"], tty=False, report=Reporter(io.StringIO()))
    assert all(verb[:2] != ["service", "create"] for verb in engine.verbs)


def test_an_interrupted_swarm_run_still_removes_its_job(
    project: Repo, tmp_path: Path, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_clock(monkeypatch, swarm_day2)
    job_engine(engine, {"State": "running"})
    engine.answer("service", "ps", raises=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        swarm_target(project, tmp_path).run_once("catalog", ["sleep", "1h"], tty=False, report=Reporter(io.StringIO()))
    assert engine.verbs[-2][:2] == ["service", "rm"] and engine.verbs[-1][:2] == ["ps", "--all"]


@pytest.mark.parametrize(
    ("image", "short"),
    [
        (f"127.0.0.1:5000/lmsops/catalog@{DIGEST}", "lmsops/catalog@913b9c7591a7"),
        ("lmsops/catalog:0.1.0-c7aca82ae626", "lmsops/catalog:0.1.0-c7aca82ae626"),
        ("ghcr.io/org/lmsops/catalog:1", "org/lmsops/catalog:1"),
        ("localhost/x:1", "x:1"),
        ("debian:bookworm-slim", "debian:bookworm-slim"),
    ],
)
def test_images_are_shown_without_registry_and_with_a_short_digest(image: str, short: str) -> None:
    assert short_image(image) == short
