"""dev, staging and production side by side on one engine, deployed by lmsops itself, and the
day-2 commands (ps, logs, exec, run) on dev's Compose project and staging's Swarm stack.

The environments run under test names (lms-staging-ie, ...) on free ports, beside any real
deployment of this machine, and are removed (with their volumes) when their tests are done.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lmsops.cli import day2, main
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.paths import Repo, find_repo
from lmsops.core.progress import Reporter
from lmsops.deploy.apply import DeployResult, deploy, rollback
from lmsops.deploy.promote import promote
from lmsops.environments.config import known_environments, load_environment
from lmsops.environments.database_jobs import JOB_LABEL
from lmsops.environments.model import model_services, resolve
from lmsops.images.build import Built
from lmsops.images.context import Context
from lmsops.releases.history import releases
from lmsops.targets.entrypoint import check_entry_point
from lmsops.targets.factory import target_for, target_of
from lmsops.targets.lock import LockPolicy
from lmsops.targets.status import compare, status
from tests.integration.conformance_run import run_conformance
from tests.integration.conftest import Renamed, environments_deployed, renamed
from tests.integration.http import call

ENVIRONMENTS = tuple(known_environments(find_repo()))


DAY2_ENVS = ["dev", "staging"]
READS_ITS_PASSWORD = "import os; print(open(os.environ['LMS_DATABASE_PASSWORD_FILE']).read().strip() != '')"  # noqa: S105 - a program, not a password


def in_process(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`lmsops ARGV` in this process; what it and the programs it ran printed (file descriptor 1)."""
    code = main(list(argv))
    return code, capfd.readouterr().out


@pytest.fixture(scope="module")
def envs() -> Renamed:
    """This module's own targets (lms-staging-ie, ...): apart from the dev platform of the other tests."""
    return renamed("-ie", list(ENVIRONMENTS))


@pytest.fixture(scope="module")
def deployed_since() -> str:
    """When the module's deploys began (a second early: docker's --since takes whole seconds)."""
    return (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def deployed(
    docker: Docker,
    envs: Renamed,
    platform_images: dict[str, Built],
    swarm: None,
    swarm_secrets: None,
    deployed_since: str,
) -> Iterator[dict[str, DeployResult]]:
    """Staging, for the whole module: most tests here deploy, roll back or lock it."""
    with environments_deployed(envs, docker, ["staging"]) as results:
        yield results


@pytest.fixture(scope="class")
def beside_staging(docker: Docker, envs: Renamed, deployed: dict[str, DeployResult]) -> Iterator[None]:
    """dev and production as well, for the tests of TestBesideDevAndProduction only: removed when they
    are done instead of idling through the rest of the module (an idle environment costs CPU: its
    health and readiness checks; docs/performance.md). The day-2 tests read these same deployments
    rather than deploying their own."""
    with environments_deployed(envs, docker, ["dev", "production"]):
        yield


def ctx(envs: Renamed, docker: Docker) -> Context:
    """One command's context on this module's environment files."""
    return Context(envs.repo, docker, Reporter(), "offline")


@pytest.mark.usefixtures("beside_staging")
class TestBesideDevAndProduction:
    """The tests that need dev or production beside staging, and the day-2 commands on dev and staging
    (they only read a deployment: one deploy of each serves them all); dev and production are removed
    after them."""

    def test_three_environments_run_side_by_side_on_the_same_images(self, docker: Docker, envs: Renamed) -> None:
        image_ids = set()
        for env in ENVIRONMENTS:
            rows = {row.service: row for row in status(envs.repo, docker, env)}
            assert set(rows) == {"catalog", "enrollment", "gateway", "gateway-routes", "postgres"}
            assert all(row.running == row.desired for row in rows.values()), rows
            status_code, body = call("GET", f"{envs.gateway(env)}/catalog/readyz")
            assert (status_code, body.get("status")) == (200, "ready"), (env, body)
            image_ids.add(docker.image_id(rows["catalog"].image))
        assert len(image_ids) == 1  # built once: the same image in dev, staging and production
        staging = {row.service: row for row in status(envs.repo, docker, "staging")}
        assert staging["catalog"].desired == 2

    def test_the_conformance_suite_passes_on_the_three_environments(self, envs: Renamed, tmp_path: Path) -> None:
        """`tests/conformance` on these same deployments (`--deployed-from`: it deploys nothing), while
        they are as deployed: the suite `nox -s conformance -- ENV` runs on its own copy of ENV."""
        # One xdist worker per environment (the suite's own grouping), as `nox -s conformance` runs them.
        workers = ("-n", str(len(ENVIRONMENTS)))
        suite = run_conformance(envs.repo.root, envs.repo.environments, tmp_path / "conformance.xml", *workers)
        assert suite.environments() == set(ENVIRONMENTS), "every environment checked"

    # --- day-2 commands on dev (Compose) and staging (Swarm): they only read what is deployed ---------

    @pytest.fixture(autouse=True)
    def cli_on_the_copies(self, monkeypatch: pytest.MonkeyPatch, envs: Renamed) -> None:
        monkeypatch.setattr(day2, "repository", lambda: envs.repo)

    @pytest.mark.parametrize("env", DAY2_ENVS)
    def test_ps_lists_every_service_running_and_healthy(self, capfd: pytest.CaptureFixture[str], env: str) -> None:
        code, out = in_process(capfd, "ps", env, "--json")
        rows = json.loads(out)
        assert code == 0
        running = {row["service"] for row in rows if row["state"] == "running"}
        assert running == {"catalog", "enrollment", "gateway", "gateway-routes", "postgres"}
        assert all(row["health"] == "healthy" for row in rows if row["service"] == "catalog"), rows
        code, table = in_process(capfd, "ps", env)
        print(table)  # shown with -s: the table as an operator reads it
        assert table.splitlines()[0].split()[:2] == ["SERVICE", "NAME"]

    @pytest.mark.parametrize("env", DAY2_ENVS)
    def test_logs_show_a_services_startup_line_prefixed_with_it(
        self, capfd: pytest.CaptureFixture[str], env: str, deployed_since: str
    ) -> None:
        # Since the deploy, not the last N lines: dev's enrollment logs at debug level, ~6 lines a second,
        # and its startup line left a 500-line tail ~75 s after the deploy (a fresh CI run failed on it).
        code, out = in_process(capfd, "logs", env, "catalog", "enrollment", "--since", deployed_since)
        assert code == 0
        started = [line for line in out.splitlines() if "Started server process" in line]
        prefixes = {line.split("-" if env == "dev" else ".", 1)[0].split()[0] for line in started}
        assert prefixes == {"catalog", "enrollment"}

    @pytest.mark.parametrize("env", DAY2_ENVS)
    def test_exec_runs_in_a_running_container_and_passes_its_exit_code(
        self, capfd: pytest.CaptureFixture[str], env: str
    ) -> None:
        code, out = in_process(capfd, "exec", env, "catalog", "--", "cat", "/srv/build-info.json")
        assert code == 0
        assert json.loads(out)["version"]
        code, _ = in_process(capfd, "exec", env, "catalog", "--", "sh", "-c", "exit 4")
        assert code == 4

    @pytest.mark.parametrize("env", DAY2_ENVS)
    def test_exec_passes_stdin_to_the_command(self, capfd: pytest.CaptureFixture[str], env: str) -> None:
        """`echo ... | nox -s exec -- ENV SERVICE -- CMD` without a terminal: CMD reads what was piped."""
        read, write = os.pipe()
        os.write(write, b"piped into exec\n")
        os.close(write)
        saved = os.dup(0)
        os.dup2(read, 0)  # this process's stdin, which the docker CLI it runs inherits
        try:
            code, out = in_process(capfd, "exec", env, "catalog", "--", "sh", "-c", "tr a-z A-Z")
        finally:
            os.dup2(saved, 0)
            os.close(saved)
            os.close(read)
        assert (code, out) == (0, "PIPED INTO EXEC\n")

    @pytest.mark.parametrize("env", DAY2_ENVS)
    def test_run_has_the_services_secret_and_passes_its_exit_code(
        self, capfd: pytest.CaptureFixture[str], env: str, docker: Docker
    ) -> None:
        code, out = in_process(capfd, "run", env, "catalog", "--", "python3", "-c", READS_ITS_PASSWORD)
        assert (code, out.strip().splitlines()[-1]) == (0, "True")
        code, _ = in_process(capfd, "run", env, "catalog", "--", "python3", "-c", "raise SystemExit(3)")
        assert code == 3
        assert docker.containers_with_label(f"{JOB_LABEL}=run") == [], "a `run` container was left behind"
        assert docker.run("service", "ls", "--quiet", "--filter", f"label={JOB_LABEL}=run").stdout.strip() == ""

    # --- the lock and promotion (these change staging and production) ---------------------------------

    @pytest.mark.parametrize("env", ["dev", "staging"])
    def test_a_deploy_under_another_holders_lock_is_refused_naming_the_holder_and_changes_nothing(
        self, docker: Docker, envs: Renamed, env: str
    ) -> None:
        target = target_for(envs.repo, docker, load_environment(envs.repo, env, model_services(envs.repo)))
        store = target.lock_store()
        before = status(envs.repo, docker, env)
        with target.locked("deploy", LockPolicy(), Reporter(io.StringIO())) as holder:
            assert store.current() == holder, "the lock is visible in the target"
            said = Said()
            with pytest.raises(ConfigError) as refused:
                deploy(Context(envs.repo, docker, said, "offline"), env, lock=LockPolicy(wait=0))
        assert str(refused.value).startswith(f"{env} is locked by deploy by {holder.who} on {holder.host}")
        assert "building" not in said.out.getvalue(), "refused before anything was built"
        assert status(envs.repo, docker, env) == before
        assert store.current() is None, "released by its holder"

    def test_promotion_runs_stagings_digests_and_refuses_a_drifted_staging(self, docker: Docker, envs: Renamed) -> None:
        promote(ctx(envs, docker), "staging", "production")
        running = {row.service: row.image for row in status(envs.repo, docker, "staging")}
        promoted = {row.service: row.image for row in status(envs.repo, docker, "production")}
        assert promoted == running
        assert releases(docker, "lms-production-ie")[-1].note == "promoted from staging"

        docker.run("service", "update", "--detach", "--env-add", "LMS_BY_HAND=1", "lms-staging-ie_catalog")
        try:
            with pytest.raises(
                ConfigError, match="staging has drifted from its declaration; nothing promoted"
            ) as refused:
                promote(ctx(envs, docker), "staging", "production")
            assert "catalog: env LMS_BY_HAND" in str(refused.value)
        finally:
            deploy(ctx(envs, docker), "staging")


def test_deploy_fails_naming_a_service_the_gateway_does_not_serve(
    docker: Docker, envs: Renamed, deployed: dict[str, DeployResult]
) -> None:
    """The check that ends every deploy, against the real gateway: a route to a service that is not there."""
    model = resolve(envs.repo, docker, "staging")
    document = copy.deepcopy(model.document)
    environment = document["services"]["gateway-routes"]["environment"]
    environment["LMS_GATEWAY_ROUTES"] += " missing=missing:8000"
    with pytest.raises(DeployError) as failure:
        check_entry_point(
            dataclasses.replace(model, document=document),
            Reporter(),
            timeout=2,
            logs=target_of(docker, model).logs_command,
        )
    assert "the gateway does not serve missing" in str(failure.value)
    assert "404" in str(failure.value)  # the gateway's own answer, quoted


def test_deploying_again_with_nothing_changed_restarts_nothing(
    docker: Docker, envs: Renamed, deployed: dict[str, DeployResult]
) -> None:
    tasks_before = {s["ID"] for s in docker.service_tasks("lms-staging-ie_catalog")}
    again = deploy(ctx(envs, docker), "staging")
    assert again.changed == []
    assert sorted(again.unchanged) == ["catalog", "enrollment", "gateway", "gateway-routes", "postgres"]
    assert {s["ID"] for s in docker.service_tasks("lms-staging-ie_catalog")} == tasks_before


def unhealthy_variant(docker: Docker, image: str, folder: Path) -> str:
    """A copy of image whose health check always fails: a release that must be rolled back."""
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text(
        f'FROM {image}\nHEALTHCHECK --interval=2s --timeout=2s --start-period=2s --retries=2 CMD ["false"]\n'
    )
    tag = "lmsops/catalog:unhealthy-test"
    docker.build(context=folder, dockerfile=dockerfile, tags=[tag], build_args={}, labels={}, iidfile=folder / "iid")
    return tag


def test_a_release_that_never_gets_healthy_is_rolled_back_and_the_old_one_keeps_serving(
    docker: Docker, envs: Renamed, deployed: dict[str, DeployResult],
    platform_images: dict[str, Built], tmp_path: Path,
) -> None:  # fmt: skip
    broken = unhealthy_variant(docker, platform_images["catalog"].reference, tmp_path)
    url = f"{envs.gateway('staging')}/catalog/courses"
    answers: list[int] = []
    stop = threading.Event()

    def poll() -> None:  # never dies silently: a refused or broken connection is an answer too (-1)
        while not stop.is_set():
            try:
                answers.append(call("GET", url)[0])
            except OSError:
                answers.append(-1)
            stop.wait(0.3)

    poller = threading.Thread(target=poll)
    poller.start()
    printed = io.StringIO()
    try:
        with pytest.raises(DeployError) as error:
            deploy(Context(envs.repo, docker, Reporter(printed), "offline"), "staging", pinned={"catalog": broken})
    finally:
        stop.set()
        poller.join()
        docker.remove_image(broken)
    message = str(error.value)
    assert message.startswith("staging: catalog failed to update: Swarm rolled it back")
    assert message.endswith("the previous version keeps serving; its last log lines are above")
    lines = printed.getvalue().splitlines()
    heading = next(n for n, line in enumerate(lines) if line.startswith("    catalog, its last "))
    assert re.match(r"      \| catalog\.\d+@\S+ \| \S", lines[heading + 1]), lines[heading:]
    assert len(answers) >= 10 and set(answers) == {200}, answers
    rows = {row.service: row for row in status(envs.repo, docker, "staging")}
    declared = resolve(envs.repo, docker, "staging").document["services"]["catalog"]["image"]
    assert "@sha256:" in declared, "staging runs its registry's digests"
    assert rows["catalog"].image == declared and rows["catalog"].running == 2


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_resolved_model_is_byte_identical_for_identical_inputs(
    repo: Repo, docker: Docker, swarm_secrets: None, env: str
) -> None:
    first, second = resolve(repo, docker, env).text, resolve(repo, docker, env).text
    assert first == second
    assert f"LMS_ENV: {env}" in first


# Drift against hand-made changes (every flag of docker service update / docker update): test_drift.py.


# --- the registry pipeline: digests, history, rollback, promotion -------------------------------


def run_git(repo: Repo, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo.root, capture_output=True, text=True, check=True).stdout.strip()


def service_env(docker: Docker, service: str) -> dict[str, str]:
    lines = docker.run(
        "service", "inspect", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}", service
    ).stdout.split()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_swarm_services_run_the_pushed_digests(
    docker: Docker, envs: Renamed, deployed: dict[str, DeployResult]
) -> None:
    plan = {image.name: image.reference for image in Context(envs.repo, docker).plan()}
    for row in status(envs.repo, docker, "staging"):
        assert "@sha256:" in row.image, row
        image_name = row.image.split("@", 1)[0].rsplit("/", 1)[-1]  # gateway-routes runs the gateway image
        digest = docker.registry_digest(f"127.0.0.1:5000/{plan[image_name]}")  # asked of the registry itself
        assert digest is not None and row.image.endswith(f"@{digest}"), f"{row.service} runs {row.image}"


def test_history_records_each_deploy_and_rollback_brings_back_the_previous_release(
    docker: Docker, envs: Renamed, deployed: dict[str, DeployResult]
) -> None:
    before = releases(docker, "lms-staging-ie")
    assert before, "the module's own deploy of staging is recorded"
    try:
        with envs.variables("staging", {"LMS_LOG_LEVEL": "debug"}):
            deploy(ctx(envs, docker), "staging")
        assert service_env(docker, "lms-staging-ie_catalog")["LMS_LOG_LEVEL"] == "debug"

        back = rollback(ctx(envs, docker), "staging")

        history = releases(docker, "lms-staging-ie")
        assert len(history) == len(before) + 2 >= 3
        earlier, debug_release = before[-1], history[-2]
        assert debug_release.config != earlier.config
        assert back.note == f"rollback to #{earlier.seq}" and back.config == earlier.config
        assert back.images == earlier.images
        head = run_git(envs.repo, "rev-parse", "HEAD")
        for release in (earlier, debug_release, back):
            assert release.commit.startswith(head) and release.by and release.at
            assert set(release.images) == {"catalog", "enrollment", "gateway", "gateway-routes", "postgres"}
            assert all("@sha256:" in image for image in release.images.values())
        for service in ("catalog", "enrollment"):
            assert service_env(docker, f"lms-staging-ie_{service}")["LMS_LOG_LEVEL"] == "info"
        assert compare(envs.repo, docker, "staging") == []
    except BaseException:
        deploy(ctx(envs, docker), "staging")
        raise


# --- the deploy lock: one command per environment at a time --------------------------------------


class Said(Reporter):
    """Progress lines kept, with an event set when a line contains `marker`."""

    def __init__(self, marker: str = "\0") -> None:
        self.out = io.StringIO()
        super().__init__(self.out)
        self.marker, self.seen = marker, threading.Event()

    def say(self, text: str) -> None:
        super().say(text)
        if self.marker in text:
            self.seen.set()


def test_a_second_deploy_waits_for_the_holder_then_deploys(
    docker: Docker, envs: Renamed, deployed: dict[str, DeployResult]
) -> None:
    target = target_for(envs.repo, docker, load_environment(envs.repo, "staging", model_services(envs.repo)))
    before = releases(docker, "lms-staging-ie")
    said = Said(marker="waiting for the deploy lock held by rollback by")
    results: list[DeployResult | BaseException] = []

    def second() -> None:
        try:
            results.append(deploy(Context(envs.repo, docker, said, "offline"), "staging", lock=LockPolicy(wait=120)))
        except BaseException as error:  # reported by the assertions below, never lost with the thread
            results.append(error)

    thread = threading.Thread(target=second)
    with target.locked("rollback", LockPolicy(), Reporter(io.StringIO())):
        thread.start()
        assert said.seen.wait(timeout=120), said.out.getvalue()
        assert releases(docker, "lms-staging-ie") == before, "nothing recorded while the holder holds it"
    thread.join(timeout=300)
    assert len(results) == 1 and isinstance(results[0], DeployResult), (results, said.out.getvalue())
    assert [release.seq for release in releases(docker, "lms-staging-ie")] == [r.seq for r in before] + [
        before[-1].seq + 1
    ]


def test_two_deploys_started_at_once_take_turns_and_record_one_release_each(
    docker: Docker, envs: Renamed, deployed: dict[str, DeployResult]
) -> None:
    before = releases(docker, "lms-staging-ie")
    start = threading.Barrier(2)
    reporters = [Said(), Said()]
    results: list[DeployResult | BaseException] = []

    def one(said: Said) -> None:
        try:
            start.wait(timeout=30)
            results.append(deploy(Context(envs.repo, docker, said, "offline"), "staging"))
        except BaseException as error:  # reported by the assertions below, never lost with the thread
            results.append(error)

    threads = [threading.Thread(target=one, args=(said,)) for said in reporters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    outputs = [said.out.getvalue() for said in reporters]
    assert len(results) == 2 and all(isinstance(r, DeployResult) for r in results), (results, outputs)
    history = releases(docker, "lms-staging-ie")
    assert [release.seq for release in history] == [r.seq for r in before] + [before[-1].seq + 1, before[-1].seq + 2]
    assert all(
        set(release.images) == {"catalog", "enrollment", "gateway", "gateway-routes", "postgres"}
        for release in history[-2:]
    )
    assert not docker.configs_with_label("org.lmsops.deploy-lock=lms-staging-ie"), "the lock is released"
