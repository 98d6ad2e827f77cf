"""dev, staging and production side by side on one engine, deployed by lmsops itself.

The environments run under test names (lms-staging-it, ...) on free ports, beside any real
deployment of this machine, and are removed (with their volumes) at the end.
"""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import threading
from collections.abc import Iterator

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.paths import Repo, find_repo
from lmsops.core.progress import Reporter
from lmsops.deploy.apply import DeployResult, deploy, rollback
from lmsops.deploy.promote import promote
from lmsops.environments.config import Overrides, known_environments
from lmsops.environments.model import resolve
from lmsops.images.build import Built
from lmsops.images.context import Context
from lmsops.releases.history import releases
from lmsops.releases.publish import load_record
from lmsops.targets.entrypoint import check_entry_point
from lmsops.targets.factory import target_of
from lmsops.targets.status import compare, status
from tests.integration.conftest import environments_deployed
from tests.integration.http import call
from tests.ports import free_port

ENVIRONMENTS = tuple(known_environments(find_repo()))


@pytest.fixture(scope="module")
def overrides() -> dict[str, Overrides]:
    """This module's own targets (lms-staging-ie, ...): apart from the dev platform of the other tests."""
    return {env: Overrides("-ie", {"LMS_GATEWAY_PORT": str(free_port())}) for env in ENVIRONMENTS}


@pytest.fixture(scope="module")
def deployed(
    repo: Repo,
    docker: Docker,
    overrides: dict[str, Overrides],
    platform_images: dict[str, Built],
    swarm: None,
    swarm_secrets: None,
) -> Iterator[dict[str, DeployResult]]:
    with environments_deployed(repo, docker, overrides) as results:
        yield results


def gateway(overrides: dict[str, Overrides], env: str) -> str:
    return f"http://127.0.0.1:{overrides[env].variables['LMS_GATEWAY_PORT']}"


def test_three_environments_run_side_by_side_on_the_same_images(
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult]
) -> None:
    image_ids = set()
    for env in ENVIRONMENTS:
        rows = {row.service: row for row in status(repo, docker, env, overrides[env])}
        assert set(rows) == {"catalog", "enrollment", "gateway", "postgres"}
        assert all(row.running == row.desired for row in rows.values()), rows
        status_code, body = call("GET", f"{gateway(overrides, env)}/catalog/readyz")
        assert (status_code, body.get("status")) == (200, "ready"), (env, body)
        image_ids.add(docker.image_id(rows["catalog"].image))
    assert len(image_ids) == 1  # built once: the same image in dev, staging and production
    staging = {row.service: row for row in status(repo, docker, "staging", overrides["staging"])}
    assert staging["catalog"].desired == 2


def test_deploy_fails_naming_a_service_the_gateway_does_not_serve(
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult]
) -> None:
    """The check that ends every deploy, against the real gateway: a route to a service that is not there."""
    model = resolve(repo, docker, "staging", overrides["staging"])
    document = copy.deepcopy(model.document)
    environment = document["services"]["gateway"]["environment"]
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
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult]
) -> None:
    tasks_before = {s["ID"] for s in docker.service_tasks("lms-staging-ie_catalog")}
    again = deploy(Context(repo, docker, Reporter(), "offline"), "staging", overrides=overrides["staging"])
    assert again.changed == []
    assert sorted(again.unchanged) == ["catalog", "enrollment", "gateway", "postgres"]
    assert {s["ID"] for s in docker.service_tasks("lms-staging-ie_catalog")} == tasks_before


def test_a_release_that_never_gets_healthy_is_rolled_back_and_the_old_one_keeps_serving(
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult],
    platform_images: dict[str, Built],
) -> None:  # fmt: skip
    good = platform_images["catalog"].reference
    broken = docker.build_unhealthy_variant(good, "lmsops/catalog:unhealthy-test")
    url = f"{gateway(overrides, 'staging')}/catalog/courses"
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
    try:
        with pytest.raises(DeployError) as error:
            broken_overrides = Overrides("-ie", overrides["staging"].variables, {"catalog": broken})
            deploy(Context(repo, docker, Reporter(), "offline"), "staging", overrides=broken_overrides)
    finally:
        stop.set()
        poller.join()
        docker.remove_image(broken)
    message = str(error.value)
    assert message.startswith("staging: catalog failed to update: Swarm rolled it back")
    assert message.endswith("the previous version keeps serving")
    assert len(answers) >= 10 and set(answers) == {200}, answers
    rows = {row.service: row for row in status(repo, docker, "staging", overrides["staging"])}
    declared = resolve(repo, docker, "staging", overrides["staging"]).document["services"]["catalog"]["image"]
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
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult]
) -> None:
    published = load_record(repo, "127.0.0.1:5000")
    for row in status(repo, docker, "staging", overrides["staging"]):
        assert "@sha256:" in row.image, row
        assert row.image in published.values(), f"{row.service} runs {row.image}, which was not pushed"


def test_history_records_each_deploy_and_rollback_brings_back_the_previous_release(
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult]
) -> None:
    staging = overrides["staging"]
    debug = Overrides(staging.name_suffix, {**staging.variables, "LMS_LOG_LEVEL": "debug"})
    before = releases(docker, "lms-staging-ie")
    assert before, "the module's own deploy of staging is recorded"
    try:
        deploy(Context(repo, docker, Reporter(), "offline"), "staging", overrides=debug)
        assert service_env(docker, "lms-staging-ie_catalog")["LMS_LOG_LEVEL"] == "debug"

        back = rollback(Context(repo, docker, Reporter(), "offline"), "staging", overrides=staging)

        history = releases(docker, "lms-staging-ie")
        assert len(history) == len(before) + 2 >= 3
        earlier, debug_release = before[-1], history[-2]
        assert debug_release.config != earlier.config
        assert back.note == f"rollback to #{earlier.seq}" and back.config == earlier.config
        assert back.images == earlier.images
        head = run_git(repo, "rev-parse", "HEAD")
        for release in (earlier, debug_release, back):
            assert release.commit.startswith(head) and release.by and release.at
            assert set(release.images) == {"catalog", "enrollment", "gateway", "postgres"}
            assert all("@sha256:" in image for image in release.images.values())
        for service in ("catalog", "enrollment"):
            assert service_env(docker, f"lms-staging-ie_{service}")["LMS_LOG_LEVEL"] == "info"
        assert compare(repo, docker, "staging", staging) == []
    except BaseException:
        deploy(Context(repo, docker, Reporter(), "offline"), "staging", overrides=staging)
        raise


def test_promotion_runs_stagings_digests_and_refuses_a_drifted_staging(
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult]
) -> None:
    staging, production = overrides["staging"], overrides["production"]
    promote(Context(repo, docker, Reporter(), "offline"), "staging", "production", source_overrides=staging,
            destination_overrides=production)  # fmt: skip
    running = {row.service: row.image for row in status(repo, docker, "staging", staging)}
    promoted = {row.service: row.image for row in status(repo, docker, "production", production)}
    assert promoted == running
    assert releases(docker, "lms-production-ie")[-1].note == "promoted from staging"

    docker.run("service", "update", "--detach", "--env-add", "LMS_BY_HAND=1", "lms-staging-ie_catalog")
    try:
        with pytest.raises(ConfigError, match="staging has drifted from its declaration; nothing promoted") as refused:
            promote(Context(repo, docker, Reporter(), "offline"), "staging", "production", source_overrides=staging,
                    destination_overrides=production)  # fmt: skip
        assert "catalog: env LMS_BY_HAND" in str(refused.value)
    finally:
        deploy(Context(repo, docker, Reporter(), "offline"), "staging", overrides=staging)
