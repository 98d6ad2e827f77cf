"""dev, staging and production side by side on one engine, deployed by lmsops itself.

The environments run under test names (lms-staging-it, ...) on free ports, beside any real
deployment of this machine, and are removed (with their volumes) at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from lmsops.build import Built
from lmsops.deploy import DeployResult, deploy
from lmsops.docker import Docker
from lmsops.envconfig import Overrides
from lmsops.errors import DeployError
from lmsops.model import resolve
from lmsops.paths import Repo
from lmsops.progress import Reporter
from lmsops.status import down, status
from tests.integration.http import call

ENVIRONMENTS = ("dev", "staging", "production")


@pytest.fixture(scope="module")
def deployed(
    repo: Repo,
    docker: Docker,
    overrides: dict[str, Overrides],
    platform_images: dict[str, Built],
    swarm: None,
    swarm_secrets: None,
) -> Iterator[dict[str, DeployResult]]:
    results: dict[str, DeployResult] = {}
    try:
        for env in ENVIRONMENTS:
            results[env] = deploy(repo, docker, env, Reporter(), mode="offline", overrides=overrides[env])
        yield results
    finally:
        for env in ENVIRONMENTS:
            down(repo, docker, env, True, Reporter(), overrides[env])


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
        assert (status_code, body["status"]) == (200, "ready"), (env, body)
        image_ids.add(docker.image_id(rows["catalog"].image))
    assert len(image_ids) == 1  # built once: the same image in dev, staging and production
    staging = {row.service: row for row in status(repo, docker, "staging", overrides["staging"])}
    assert staging["catalog"].desired == 2


def test_deploying_again_with_nothing_changed_restarts_nothing(
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult]
) -> None:
    tasks_before = {s["ID"] for s in docker.service_tasks("lms-staging-it_catalog")}
    again = deploy(repo, docker, "staging", Reporter(), mode="offline", overrides=overrides["staging"])
    assert again.changed == []
    assert sorted(again.unchanged) == ["catalog", "enrollment", "gateway", "postgres"]
    assert {s["ID"] for s in docker.service_tasks("lms-staging-it_catalog")} == tasks_before


def test_a_release_that_never_gets_healthy_is_rolled_back_and_the_old_one_keeps_serving(
    repo: Repo, docker: Docker, overrides: dict[str, Overrides], deployed: dict[str, DeployResult],
    platform_images: dict[str, Built],
) -> None:  # fmt: skip
    good = platform_images["catalog"].reference
    broken = docker.build_unhealthy_variant(good, "lmsops/catalog:unhealthy-test")
    url = f"{gateway(overrides, 'staging')}/catalog/courses"
    answers: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            answers.append(call("GET", url)[0])
            time.sleep(0.3)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with pytest.raises(DeployError) as error:
            broken_overrides = Overrides("-it", overrides["staging"].variables, {"catalog": broken})
            deploy(repo, docker, "staging", Reporter(), mode="offline", overrides=broken_overrides)
    finally:
        stop.set()
        poller.join()
        docker.remove_image(broken)
    message = str(error.value)
    assert message.startswith("staging: catalog failed to update: Swarm rolled it back")
    assert message.endswith("the previous version keeps serving")
    assert answers and set(answers) == {200}, answers
    rows = {row.service: row for row in status(repo, docker, "staging", overrides["staging"])}
    assert rows["catalog"].image == good and rows["catalog"].running == 2


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_resolved_model_is_byte_identical_for_identical_inputs(
    repo: Repo, docker: Docker, swarm_secrets: None, env: str
) -> None:
    first, second = resolve(repo, docker, env).text, resolve(repo, docker, env).text
    assert first == second
    assert f"LMS_ENV: {env}" in first
