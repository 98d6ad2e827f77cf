"""Every service image, checked in its running container: non-root, no pip, strict configuration."""

from __future__ import annotations

import pytest
import testinfra

from lmsops.core.docker import Docker
from lmsops.core.paths import find_repo
from lmsops.images.build import Built
from lmsops.images.discovery import discover
from lmsops.images.versions import load_versions
from tests.integration.conftest import Platform

# Every service image under services/, discovered: never a hand-kept list.
_REPO = find_repo()
SERVICES = [spec.name for spec in discover(_REPO, load_versions(_REPO)) if spec.kind == "service"]


def status_ids(host: testinfra.host.Host, field: str) -> set[int]:
    for line in host.file("/proc/1/status").content_string.splitlines():
        if line.startswith(f"{field}:"):
            return {int(value) for value in line.split()[1:]}
    raise AssertionError(f"no {field} in /proc/1/status")


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_non_root_without_pip(platform: Platform, service: str) -> None:
    host = testinfra.get_host(f"docker://{platform.container(service)}")
    assert 0 not in status_ids(host, "Uid")
    assert 0 not in status_ids(host, "Gid")
    for tool in ("pip", "pip3"):
        assert host.run(f"command -v {tool}").rc != 0, f"{tool} found in the {service} image"
    assert host.run("python3 -c 'import pip'").rc != 0


@pytest.mark.parametrize("service", SERVICES)
def test_missing_configuration_is_one_line_naming_the_variable(
    docker: Docker, platform_images: dict[str, Built], service: str
) -> None:
    result = docker.run_once(platform_images[service].reference)
    assert result.returncode == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{service}: invalid configuration: LMS_")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [("LMS_GATEWAY_ACCESS_LOG", "everything", "is not failures or all"),
     ("LMS_GATEWAY_SLOTS", "0", "is not a number from 1 to 99")],
)  # fmt: skip
def test_a_gateway_setting_out_of_its_range_is_one_line_naming_it(
    docker: Docker, platform_images: dict[str, Built], variable: str, value: str, reason: str
) -> None:
    env = {"LMS_GATEWAY_ROUTES": "catalog=catalog:8001", variable: value}
    result = docker.run_once(platform_images["gateway"].reference, env=env)
    assert result.returncode == 2, result.output
    assert result.stderr.strip().splitlines() == [f"gateway: invalid configuration: {variable}: '{value}' {reason}"]
