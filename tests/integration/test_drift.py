"""Drift sees every change: each flag of `docker service update` and `docker update` (taken from the
docker client's own help, not a hand-picked subset) is applied by hand to a deployed service, and
drift names it; a deploy then puts everything back and drift finds nothing.

Swarm changes are made on a service scaled to 0 replicas first: its spec changes at once and no
task is replaced, so one deploy serves every flag. Each change is undone with `docker service
rollback` (back to the spec before it) before the next one. The whole drift of the environment
(what `nox -s drift` runs) is checked before, on the scaled service and after the repair; each flag
is judged by the same comparison on that one service's spec, against the rendering made once.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.core.paths import find_repo
from lmsops.core.progress import Reporter
from lmsops.deploy.apply import deploy
from lmsops.drift.compare import Difference, model_file, revisions_of
from lmsops.drift.compose import compare_compose
from lmsops.drift.render import render_swarm
from lmsops.drift.specdiff import show
from lmsops.drift.swarm import spec_differences
from lmsops.environments.model import Model, resolve
from lmsops.images.build import Built
from lmsops.images.context import Context
from lmsops.targets.status import compare, drift_of
from tests.integration.conftest import Renamed, environments_deployed, renamed
from tests.integration.http import call
from tests.ports import free_port

SUFFIX = "-id"
STACK = f"lms-staging{SUFFIX}"
SERVICE = f"{STACK}_catalog"
TEST_OBJECT = "lmsops-drift-test"  # the config, secret and network some flags need; removed after
PUBLISHED = free_port()

# Flag -> (its arguments, the field path drift must name). Values are valid for catalog on staging.
SERVICE_CHANGES: dict[str, tuple[list[str], str]] = {
    "--args": (["--args", "python3 -m app --by-hand"], "TaskTemplate.ContainerSpec.Args"),
    "--cap-add": (["--cap-add", "NET_ADMIN"], "TaskTemplate.ContainerSpec.CapabilityAdd"),
    "--config-add": (["--config-add", f"source={TEST_OBJECT},target=/etc/by-hand"], "ContainerSpec.Configs"),
    "--constraint-add": (["--constraint-add", "node.labels.by-hand==1"], "TaskTemplate.Placement.Constraints"),
    "--container-label-add": (["--container-label-add", "by-hand=1"], "ContainerSpec.Labels[by-hand]"),
    "--container-label-rm": (["--container-label-rm", "org.lmsops.team"], "ContainerSpec.Labels[org.lmsops.team]"),
    "--dns-add": (["--dns-add", "127.0.0.53"], "DNSConfig.Nameservers"),
    "--dns-option-add": (["--dns-option-add", "ndots:2"], "DNSConfig.Options"),
    "--dns-search-add": (["--dns-search-add", "by-hand.test"], "DNSConfig.Search"),
    "--endpoint-mode": (["--endpoint-mode", "vip"], "EndpointSpec.Mode"),
    "--entrypoint": (["--entrypoint", "/bin/sh"], "TaskTemplate.ContainerSpec.Command"),
    "--env-add": (["--env-add", "LMS_BY_HAND=1"], "ContainerSpec.Env.LMS_BY_HAND"),
    "--env-rm": (["--env-rm", "LMS_LOG_LEVEL"], "ContainerSpec.Env.LMS_LOG_LEVEL"),
    "--generic-resource-add": (["--generic-resource-add", "by-hand=1"], "Reservations.GenericResources"),
    "--group-add": (["--group-add", "10002"], "TaskTemplate.ContainerSpec.Groups"),
    "--health-cmd": (["--health-cmd", "true"], "Healthcheck.Test"),
    "--health-interval": (["--health-interval", "7s"], "Healthcheck.Interval"),
    "--health-retries": (["--health-retries", "5"], "Healthcheck.Retries"),
    "--health-start-period": (["--health-start-period", "9s"], "Healthcheck.StartPeriod"),
    "--health-start-interval": (["--health-start-interval", "2s"], "Healthcheck.StartInterval"),
    "--health-timeout": (["--health-timeout", "4s"], "Healthcheck.Timeout"),
    "--host-add": (["--host-add", "by-hand:127.0.0.1"], "TaskTemplate.ContainerSpec.Hosts"),
    "--hostname": (["--hostname", "by-hand"], "TaskTemplate.ContainerSpec.Hostname"),
    "--image": (["--image", "{other_image}"], "TaskTemplate.ContainerSpec.Image"),
    "--init": (["--init"], "TaskTemplate.ContainerSpec.Init"),
    "--isolation": (["--isolation", "process"], "TaskTemplate.ContainerSpec.Isolation"),
    "--label-add": (["--label-add", "by-hand=1"], "Labels[by-hand]"),
    "--label-rm": (["--label-rm", "com.docker.stack.image"], "Labels[com.docker.stack.image]"),
    "--limit-cpu": (["--limit-cpu", "0.25"], "Limits.NanoCPUs"),
    "--limit-memory": (["--limit-memory", "300M"], "Limits.MemoryBytes"),
    "--limit-pids": (["--limit-pids", "100"], "Limits.Pids"),
    "--log-driver": (["--log-driver", "json-file"], "TaskTemplate.LogDriver"),
    # The client applies log options only together with a driver.
    "--log-opt": (["--log-driver", "json-file", "--log-opt", "max-size=1m"], "TaskTemplate.LogDriver"),
    "--mount-add": (["--mount-add", f"type=volume,source={TEST_OBJECT},target=/by-hand"], "ContainerSpec.Mounts"),
    "--mount-rm": (["--mount-rm", "/tmp"], "TaskTemplate.ContainerSpec.Mounts"),
    "--network-add": (["--network-add", TEST_OBJECT], "TaskTemplate.Networks"),
    "--network-rm": (["--network-rm", f"{STACK}_backend"], "TaskTemplate.Networks"),
    "--no-healthcheck": (["--no-healthcheck"], "Healthcheck.Test"),
    "--oom-score-adj": (["--oom-score-adj", "100"], "ContainerSpec.OomScoreAdj"),
    "--placement-pref-add": (["--placement-pref-add", "spread=node.labels.zone"], "Placement.Preferences"),
    "--publish-add": (["--publish-add", f"mode=host,published={PUBLISHED},target=8001"], "EndpointSpec.Ports"),
    "--read-only": (["--read-only=false"], "TaskTemplate.ContainerSpec.ReadOnly"),
    "--replicas": (["--replicas", "3"], "Mode.Replicated.Replicas"),
    "--replicas-max-per-node": (["--replicas-max-per-node", "1"], "TaskTemplate.Placement.MaxReplicas"),
    "--reserve-cpu": (["--reserve-cpu", "0.1"], "Reservations.NanoCPUs"),
    "--reserve-memory": (["--reserve-memory", "32M"], "Reservations.MemoryBytes"),
    "--restart-condition": (["--restart-condition", "on-failure"], "RestartPolicy.Condition"),
    "--restart-delay": (["--restart-delay", "7s"], "RestartPolicy.Delay"),
    "--restart-max-attempts": (["--restart-max-attempts", "3"], "RestartPolicy.MaxAttempts"),
    "--restart-window": (["--restart-window", "30s"], "RestartPolicy.Window"),
    "--rollback-delay": (["--rollback-delay", "3s"], "RollbackConfig.Delay"),
    "--rollback-failure-action": (["--rollback-failure-action", "continue"], "RollbackConfig.FailureAction"),
    "--rollback-max-failure-ratio": (["--rollback-max-failure-ratio", "0.5"], "RollbackConfig.MaxFailureRatio"),
    "--rollback-monitor": (["--rollback-monitor", "9s"], "RollbackConfig.Monitor"),
    "--rollback-order": (["--rollback-order", "stop-first"], "RollbackConfig.Order"),
    "--rollback-parallelism": (["--rollback-parallelism", "2"], "RollbackConfig.Parallelism"),
    "--secret-add": (["--secret-add", f"source={TEST_OBJECT},target=by-hand"], "TaskTemplate.ContainerSpec.Secrets"),
    "--secret-rm": (["--secret-rm", "{catalog_secret}"], "TaskTemplate.ContainerSpec.Secrets"),
    "--stop-grace-period": (["--stop-grace-period", "20s"], "ContainerSpec.StopGracePeriod"),
    "--stop-signal": (["--stop-signal", "SIGINT"], "ContainerSpec.StopSignal"),
    "--sysctl-add": (["--sysctl-add", "net.core.somaxconn=1024"], "ContainerSpec.Sysctls"),
    "--tty": (["--tty"], "TaskTemplate.ContainerSpec.TTY"),
    "--ulimit-add": (["--ulimit-add", "nofile=1024:2048"], "ContainerSpec.Ulimits"),
    "--update-delay": (["--update-delay", "7s"], "UpdateConfig.Delay"),
    "--update-failure-action": (["--update-failure-action", "continue"], "UpdateConfig.FailureAction"),
    "--update-max-failure-ratio": (["--update-max-failure-ratio", "0.5"], "UpdateConfig.MaxFailureRatio"),
    "--update-monitor": (["--update-monitor", "9s"], "UpdateConfig.Monitor"),
    "--update-order": (["--update-order", "stop-first"], "UpdateConfig.Order"),
    "--update-parallelism": (["--update-parallelism", "2"], "UpdateConfig.Parallelism"),
    "--user": (["--user", "10002:10002"], "TaskTemplate.ContainerSpec.User"),
    "--workdir": (["--workdir", "/tmp"], "TaskTemplate.ContainerSpec.Dir"),
}
# Flags that cannot change a service lmsops deployed: applied all the same, and drift must stay quiet.
SERVICE_NO_CHANGE: dict[str, tuple[list[str], str]] = {
    "--cap-drop": (["--cap-drop", "NET_RAW"], "every capability is dropped already (cap_drop: [ALL])"),
    "--config-rm": (["--config-rm", TEST_OBJECT], "no service declares a config"),
    "--constraint-rm": (["--constraint-rm", "node.labels.by-hand==1"], "no service declares a constraint"),
    "--dns-rm": (["--dns-rm", "127.0.0.53"], "no service declares a DNS server"),
    "--dns-option-rm": (["--dns-option-rm", "ndots:2"], "no service declares a DNS option"),
    "--dns-search-rm": (["--dns-search-rm", "by-hand.test"], "no service declares a DNS search domain"),
    "--force": (["--force"], "restarts the tasks; ForceUpdate is a counter, on the ignore list"),
    "--generic-resource-rm": (["--generic-resource-rm", "by-hand"], "no service declares a generic resource"),
    "--group-rm": (["--group-rm", "10002"], "no service declares extra groups"),
    "--host-rm": (["--host-rm", "by-hand:127.0.0.1"], "no service declares extra hosts"),
    "--no-resolve-image": (["--no-resolve-image"], "whether the client asks a registry for a digest: no spec field"),
    "--placement-pref-rm": (["--placement-pref-rm", "spread=node.labels.zone"], "no placement preference declared"),
    "--publish-rm": (["--publish-rm", "8001"], "catalog publishes no port (only the gateway does)"),
    "--sysctl-rm": (["--sysctl-rm", "net.core.somaxconn"], "no service declares a sysctl"),
    "--ulimit-rm": (["--ulimit-rm", "nofile"], "no service declares a ulimit"),
    "--with-registry-auth": (["--with-registry-auth"], "sends the client's registry login (none here) to the nodes"),
}
# Flags that are not a change of configuration at all, or cannot apply to a replicated Linux service.
SERVICE_NOT_APPLIED: dict[str, str] = {
    "--detach": "how the client waits and reports, not part of the spec",
    "--quiet": "how the client reports, not part of the spec",
    "--rollback": "returns the service to its previous spec: this test's own way of undoing each change",
    "--credential-spec": "Windows containers only (gMSA credential specs)",
    "--max-concurrent": "job-mode services only; lmsops services are replicated",
}

# `docker update` flags on a dev container: arguments, the field drift must name, and the service
# (--cpus on another container: the engine refuses NanoCPUs beside a CPU period/quota).
# `--memory` goes with `--memory-swap`: engine 20.10 refuses a memory limit alone on cgroup v1.
CONTAINER_CHANGES: dict[str, tuple[list[str], str, str]] = {
    "--blkio-weight": (["--blkio-weight", "300"], "HostConfig.BlkioWeight", "catalog"),
    "--cpu-period": (["--cpu-period", "100000"], "HostConfig.CpuPeriod", "catalog"),
    "--cpu-quota": (["--cpu-quota", "50000"], "HostConfig.CpuQuota", "catalog"),
    "--cpu-rt-period": (["--cpu-rt-period", "1000000"], "HostConfig.CpuRealtimePeriod", "catalog"),
    "--cpu-rt-runtime": (["--cpu-rt-runtime", "10000"], "HostConfig.CpuRealtimeRuntime", "catalog"),
    "--cpu-shares": (["--cpu-shares", "512"], "HostConfig.CpuShares", "catalog"),
    "--cpus": (["--cpus", "0.5"], "HostConfig.NanoCpus", "enrollment"),
    "--cpuset-cpus": (["--cpuset-cpus", "0"], "HostConfig.CpusetCpus", "catalog"),
    "--cpuset-mems": (["--cpuset-mems", "0"], "HostConfig.CpusetMems", "catalog"),
    "--kernel-memory": (["--kernel-memory", "64M"], "HostConfig.KernelMemory", "catalog"),
    "--memory": (["--memory", "300M", "--memory-swap", "600M"], "HostConfig.Memory", "catalog"),
    "--memory-reservation": (["--memory-reservation", "32M"], "HostConfig.MemoryReservation", "catalog"),
    "--memory-swap": (["--memory", "310M", "--memory-swap", "700M"], "HostConfig.MemorySwap", "catalog"),
    "--pids-limit": (["--pids-limit", "100"], "HostConfig.PidsLimit", "catalog"),
    "--restart": (["--restart", "on-failure:3"], "HostConfig.RestartPolicy", "catalog"),
}
# What this kind of machine's kernel does not apply (the engine says so); elsewhere it is checked.
CONTAINER_REFUSED_HERE = {
    "--blkio-weight": "the kernel has no blkio weight controller: 'Weight discarded', nothing changes",
    "--kernel-memory": "kernel memory limits are gone from current kernels",
}


def client_flags(docker: Docker, *command: str) -> set[str]:
    """The long flags the docker client offers for a command (its own help, against this engine)."""
    text = docker.run(*command, "--help").stdout
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)(?:\s|$)", text, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def envs() -> Renamed:
    return renamed(SUFFIX, ["dev", "staging"])


@pytest.fixture(scope="class")
def deployed(
    request: pytest.FixtureRequest,
    docker: Docker,
    envs: Renamed,
    platform_images: dict[str, Built],
    swarm: None,
    swarm_secrets: None,
) -> Iterator[dict[str, Model]]:
    """Only the environment of the test's class (its ENV), removed after the class: one of the two is
    up at a time instead of both for the whole module (an idle environment costs CPU; docs/performance.md)."""
    env = request.cls.ENV
    with environments_deployed(envs, docker, [env]):
        yield {env: resolve(envs.repo, docker, env)}


@pytest.fixture()
def test_objects(docker: Docker) -> Iterator[None]:
    """A config, a secret and an overlay network for the flags that attach one."""
    docker.run("config", "create", TEST_OBJECT, "-", input_bytes=b"by hand\n", check=False)
    docker.run("secret", "create", TEST_OBJECT, "-", input_bytes=b"by hand\n", check=False)
    docker.run("network", "create", "--driver", "overlay", "--attachable", TEST_OBJECT, check=False)
    yield
    docker.run("config", "rm", TEST_OBJECT, check=False)
    docker.run("secret", "rm", TEST_OBJECT, check=False)
    docker.run("network", "rm", TEST_OBJECT, check=False)
    docker.run("volume", "rm", TEST_OBJECT, check=False)


def paths(differences: list[Difference], service: str) -> dict[str, str]:
    """field path -> running value, for one service."""
    return {d.path or d.field: d.running for d in differences if d.service == service}


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {path for path, running in after.items() if before.get(path) != running}


def spec_of(docker: Docker, service: str) -> str:
    return docker.run("service", "inspect", "--format", "{{json .Spec}}", service).stdout


def settled(docker: Docker, service: str, timeout: float = 30) -> None:
    """Wait until Swarm has finished applying the last change (its update status moves on: the
    next change would otherwise be refused as 'update out of sequence')."""
    deadline = time.monotonic() + timeout
    template = "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}"
    while docker.run("service", "inspect", "--format", template, service).stdout.strip() in {
        "updating",
        "rollback_started",
    }:
        assert time.monotonic() < deadline, f"{service}: its update did not settle within {timeout} s"
        time.sleep(0.2)  # each look is a docker call: a tighter loop only costs the other tests CPU


def change(docker: Docker, *args: str, check: bool = True) -> None:
    """One change by hand to the catalog service, applied before the next one starts.

    Swarm versions every service object and refuses an update sent with a stale version ("update out
    of sequence"): its orchestrator may still write the service (the end of a rollback) after the
    state this test waits for. The client reads the service again on each call, so a retry is the
    remedy Swarm expects; any other refusal fails at once."""
    for _attempt in range(5):
        result = docker.run("service", *args, SERVICE, check=False)
        if "update out of sequence" not in result.output:
            break
    assert result.returncode == 0 or not check, f"docker service {' '.join(args)}: {result.output}"
    settled(docker, SERVICE)


def container_drift(docker: Docker, model: Model) -> list[Difference]:
    """drift of a Compose environment without its database schema check (which starts a container per
    database: 30 times over in the flag loop below); drift_of runs the whole of it before and after."""
    return compare_compose(docker, model, revisions_of(model))


def catalog_drift(docker: Docker, declared: dict[str, object]) -> dict[str, str]:
    """drift's comparison of the catalog service's spec: field path -> running value."""
    running = json.loads(spec_of(docker, SERVICE))
    ids = [str(n["Target"]) for n in running["TaskTemplate"].get("Networks") or []]
    context = {"networks": docker.network_names(ids)}
    return {d.path: show(d.running) for d in spec_differences(dict(declared), running, context)}


def psql(docker: Docker, stack: str, database: str, sql: str) -> str:
    """SQL as the superuser inside the stack's running PostgreSQL container (local socket, trust)."""
    found = docker.inspect_containers(f"com.docker.swarm.service.name={stack}_postgres")
    (container,) = [str(c["Id"]) for c in found if c["State"]["Running"]]
    argv = [
        "exec",
        container,
        "psql",
        "-h",
        "/tmp",
        "-U",
        "postgres",
        "-d",
        database,
        "-v",
        "ON_ERROR_STOP=1",
        "-Atc",
        sql,
    ]
    return docker.run(*argv).stdout.strip()


def head_revision(service: str) -> str:
    """The head of a service's migrations, read from its files: the revision nobody revises."""
    versions = find_repo().services / service / "app" / "migrations" / "versions"
    texts = [path.read_text() for path in versions.glob("*.py")]
    revisions = {m[1] for text in texts for m in re.finditer(r"^revision[^=]*=\s*['\"]([^'\"]+)['\"]", text, re.M)}
    revised = {m[1] for text in texts for m in re.finditer(r"^down_revision[^=]*=\s*['\"]([^'\"]+)['\"]", text, re.M)}
    (head,) = revisions - revised
    return head


FAILING_MIGRATION = """\
\"\"\"Fails on purpose, after deleting every course: the deploy must stop, the data stay.\"\"\"
from alembic import op

revision = "0099_fails_on_purpose"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM course_modules")
    op.execute("DELETE FROM courses")
    op.execute("SELECT 1 / 0")


def downgrade() -> None:
    pass
"""


class TestStaging:
    """Drift of a Swarm stack (staging); dev is not deployed meanwhile."""

    ENV = "staging"

    def test_drift_names_every_flag_of_docker_service_update_and_deploy_repairs_it(
        self, docker: Docker, envs: Renamed, deployed: dict[str, Model], test_objects: None
    ) -> None:
        model = deployed["staging"]
        assert drift_of(docker, model) == [], "a clean deploy shows no difference"
        flags = client_flags(docker, "service", "update")
        listed = set(SERVICE_CHANGES) | set(SERVICE_NO_CHANGE) | set(SERVICE_NOT_APPLIED)
        assert flags <= listed, f"flags of this docker client that the test does not know: {sorted(flags - listed)}"
        values = {
            "{other_image}": str(model.document["services"]["enrollment"]["image"]),
            "{catalog_secret}": str(model.document["secrets"]["catalog-db-password"]["name"]),  # its versioned name
        }
        missed: dict[str, str] = {}
        quiet: dict[str, str] = {}
        try:
            change(docker, "update", "--detach", "--quiet", "--replicas", "0")
            assert set(paths(drift_of(docker, model), "catalog")) == {"Mode.Replicated.Replicas", "running tasks"}
            declared = render_swarm(docker, model, model_file(model)).specs["catalog"]
            baseline = catalog_drift(docker, declared)
            assert set(baseline) == {"Mode.Replicated.Replicas"}, baseline
            base_spec = json.loads(spec_of(docker, SERVICE))
            for flag in sorted(flags & set(SERVICE_CHANGES)):
                args, expected = SERVICE_CHANGES[flag]
                argv = [values.get(a, a) for a in args]
                change(docker, "update", "--detach", "--quiet", *argv)
                found = changed(baseline, catalog_drift(docker, declared))
                if not any(expected in path for path in found):
                    missed[flag] = f"expected {expected}, drift named {sorted(found) or 'nothing'}"
                change(docker, "rollback", "--detach", "--quiet")
                assert json.loads(spec_of(docker, SERVICE)) == base_spec, (
                    f"{flag}: the rollback did not restore the spec"
                )
            for flag in sorted(flags & set(SERVICE_NO_CHANGE)):
                args, _reason = SERVICE_NO_CHANGE[flag]
                change(docker, "update", "--detach", "--quiet", *args, check=False)
                found = changed(baseline, catalog_drift(docker, declared))
                if found:
                    quiet[flag] = f"drift named {sorted(found)}"
        finally:  # what is declared comes back, also after a failure (the module's other tests use it)
            deploy(Context(envs.repo, docker, Reporter(), "offline"), "staging")
        assert not missed, f"changes drift did not name: {missed}"
        assert not quiet, f"flags that should change nothing: {quiet}"
        assert drift_of(docker, model) == [], "after a deploy everything is as declared again"

    def test_drift_finds_a_rotated_secret_not_yet_deployed(
        self, docker: Docker, envs: Renamed, deployed: dict[str, Model],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:  # fmt: skip
        monkeypatch.setenv("LMSOPS_STAGING_CATALOG_DB_PASSWORD", "rotated-" + os.urandom(8).hex())
        found = compare(envs.repo, docker, "staging")
        # Only catalog: on Swarm PostgreSQL never holds a service's password (lmsops.targets.databases
        # provisions it on the running server), so a rotation does not restart PostgreSQL.
        # The catalog's database is checked with the declared (rotated) password, which it does not
        # accept yet: reported too, as a schema check that could not run.
        assert {(d.service, d.path or d.category) for d in found} == {
            ("catalog", "TaskTemplate.ContainerSpec.Secrets"),
            ("catalog", "schema"),
        }
        assert all("rotated" not in f"{d.declared} {d.running}" for d in found), "values never appear, only names"
        monkeypatch.undo()
        assert compare(envs.repo, docker, "staging") == []

    # -- the databases: schema drift, and a migration that fails at deploy --------------------------------

    def test_a_column_added_by_hand_to_stagings_database_is_drift_naming_service_database_and_column(
        self, docker: Docker, envs: Renamed, deployed: dict[str, Model]
    ) -> None:
        psql(docker, STACK, "catalog", "ALTER TABLE courses ADD COLUMN notes_by_hand text")
        try:
            found = [d for d in compare(envs.repo, docker, "staging") if d.category == "schema"]
            assert [(d.service, d.field) for d in found] == [
                ("catalog", "database catalog: column courses.notes_by_hand")
            ]
            assert "in the database" in found[0].running, found[0].line()
        finally:
            psql(docker, STACK, "catalog", "ALTER TABLE courses DROP COLUMN notes_by_hand")
        assert [d.line() for d in compare(envs.repo, docker, "staging") if d.category == "schema"] == []

    def test_the_plan_of_a_deployed_staging_names_a_rotated_secret_by_version_and_changes_nothing(
        self, docker: Docker, envs: Renamed, deployed: dict[str, Model], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from lmsops.deploy.plan import Change, Plan, ServicePlan, plan_environment
        from lmsops.deploy.plan_output import text

        def plan_now() -> Plan:
            return plan_environment(Context(envs.repo, docker, Reporter(), "offline"), "staging")

        assert plan_now().empty, "as deployed: nothing to change"
        before = {name: spec_of(docker, f"{STACK}_{name}") for name in deployed["staging"].services}
        rotated = "rotated-" + os.urandom(8).hex()
        monkeypatch.setenv("LMSOPS_STAGING_CATALOG_DB_PASSWORD", rotated)
        plan = plan_now()
        [catalog] = plan.services
        [change] = catalog.changes
        assert catalog == ServicePlan(
            "catalog", "change", [Change("secrets", "catalog-db-password", change.old, change.new)]
        )
        assert change.old and change.new and change.old != change.new
        assert rotated not in text(plan)
        after = {name: spec_of(docker, f"{STACK}_{name}") for name in deployed["staging"].services}
        assert after == before, "a plan changes nothing"


class TestDev:
    """Drift of a Compose project (dev); staging is not deployed meanwhile."""

    ENV = "dev"

    def test_drift_names_every_flag_of_docker_update_on_a_dev_container_and_deploy_repairs_it(
        self, docker: Docker, envs: Renamed, deployed: dict[str, Model]
    ) -> None:
        model = deployed["dev"]
        assert drift_of(docker, model) == []
        flags = client_flags(docker, "update")
        assert flags <= set(CONTAINER_CHANGES), (
            f"docker update flags the test does not know: {flags - set(CONTAINER_CHANGES)}"
        )
        missed, refused = {}, {}
        for flag in sorted(flags):
            args, expected, service = CONTAINER_CHANGES[flag]
            container = f"{model.project}-{service}-1"
            before = paths(container_drift(docker, model), service)
            host_config = docker.container_inspect(container)["HostConfig"]
            result = docker.run("update", *args, container, check=False)
            if result.returncode != 0 or docker.container_inspect(container)["HostConfig"] == host_config:
                refused[flag] = result.output or "accepted, but nothing changed"
                continue
            found = changed(before, paths(container_drift(docker, model), service))
            if not any(path.startswith(expected) for path in found):
                missed[flag] = f"expected {expected}, drift named {sorted(found) or 'nothing'}"
        unexpected = {flag: why for flag, why in refused.items() if flag not in CONTAINER_REFUSED_HERE}
        assert not unexpected, f"the engine refused: {unexpected}"
        assert not missed, f"changes drift did not name: {missed}"
        deploy(Context(envs.repo, docker, Reporter(), "offline"), "dev")
        assert drift_of(docker, model) == [], "after a deploy everything is as declared again"

    @pytest.mark.parametrize(
        ("key", "value", "expected"),
        [
            ("environment", {"LMS_SHADOW_FLAG": "on"}, "Config.Env.LMS_SHADOW_FLAG"),
            ("cap_add", ["NET_ADMIN"], "HostConfig.CapAdd"),
        ],
    )
    def test_drift_names_a_dev_container_recreated_by_hand_with_one_option_changed(
        self, docker: Docker, envs: Renamed, deployed: dict[str, Model], tmp_path: Path,
        key: str, value: object, expected: str,
    ) -> None:  # fmt: skip
        model = deployed["dev"]
        changed = yaml.safe_load(model.text)
        catalog = changed["services"]["catalog"]
        catalog[key] = {**catalog.get(key, {}), **value} if isinstance(value, dict) else value
        by_hand = tmp_path / "by-hand.yaml"
        by_hand.write_text(yaml.safe_dump(changed))
        docker.compose(model.project, [by_hand], None, "up", "--detach", "--wait", "--no-deps", "catalog")
        try:
            found = paths(drift_of(docker, model), "catalog")
            assert any(path.startswith(expected) for path in found), found
        finally:
            deploy(Context(envs.repo, docker, Reporter(), "offline"), "dev")
        assert drift_of(docker, model) == []

    def test_a_migration_that_fails_stops_the_deploy_naming_it_and_the_old_version_keeps_its_data(
        self, docker: Docker, envs: Renamed, deployed: dict[str, Model], tmp_path: Path
    ) -> None:
        url = f"{envs.gateway('dev')}/catalog/courses"
        code = f"MIG-{os.urandom(3).hex()}"
        status, course = call("POST", url, {"code": code, "title": "Kept", "modules": [{"title": "one"}]})
        assert status == 201, course
        image = str(deployed["dev"].document["services"]["catalog"]["image"])
        (tmp_path / "0099_fails_on_purpose.py").write_text(FAILING_MIGRATION.format(head=head_revision("catalog")))
        (tmp_path / "Dockerfile").write_text(
            f"FROM {image}\nCOPY 0099_fails_on_purpose.py /srv/app/migrations/versions/\n"
        )
        failing = f"{image.rsplit(':', 1)[0]}:fails-on-purpose-{os.urandom(3).hex()}"
        docker.build(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tags=[failing], build_args={}, labels={},
                     iidfile=tmp_path / "iid")  # fmt: skip
        try:
            with pytest.raises(DeployError) as raised:
                deploy(Context(envs.repo, docker, Reporter(), "offline"), "dev", pinned={"catalog": failing})
        finally:
            docker.run("image", "rm", failing, check=False)
        message = str(raised.value)
        assert "catalog: the migration 0099_fails_on_purpose" in message and "division by zero" in message, message
        assert "the previous version keeps serving" in message
        status, again = call("GET", f"{url}/{course['id']}")
        assert status == 200 and again == course, "the old version answers with the data as it was"
        assert drift_of(docker, deployed["dev"]) == [], "nothing changed: same containers, same schema"

    # -- the plan: the same comparison, read as what a deploy would change ---------------------------------
