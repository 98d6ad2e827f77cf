"""The python runtime base, checked from inside a running container with testinfra."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import testinfra
from testinfra.host import Host

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.images.build import Built
from lmsops.targets.containers import scratch_container

RUNTIME_UID = 10001
OCI_LABELS = ("title", "version", "revision", "source", "created", "base.name", "base.digest")


@pytest.fixture(scope="module")
def python_image(base_images: dict[str, Built]) -> Built:
    return base_images["python"]


@pytest.fixture(scope="module")
def container(docker: Docker, python_image: Built, scratch_prefix: str) -> Iterator[str]:
    with scratch_container(docker, python_image.reference, args=["sleep", "infinity"], prefix=scratch_prefix) as name:
        yield name


@pytest.fixture(scope="module")
def host(container: str) -> Host:
    return testinfra.get_host(f"docker://{container}")


@pytest.fixture(scope="module")
def root_host(container: str) -> Host:
    return testinfra.get_host(f"docker://root@{container}")


def proc_status_ids(host: Host, field: str) -> set[int]:
    for line in host.file("/proc/1/status").content_string.splitlines():
        if line.startswith(f"{field}:"):
            return {int(value) for value in line.split()[1:]}
    raise AssertionError(f"/proc/1/status has no {field} line")


def test_pid_1_is_the_init(host: Host) -> None:
    argv = host.file("/proc/1/cmdline").content_string.split("\0")
    assert argv[0] == "/usr/bin/tini"


def test_runs_as_the_non_root_uid(host: Host) -> None:
    assert proc_status_ids(host, "Uid") == {RUNTIME_UID}
    assert proc_status_ids(host, "Gid") == {RUNTIME_UID}
    assert host.user().uid == RUNTIME_UID
    assert host.user().name == "lms"


def test_python3_works_from_the_venv_on_path(host: Host) -> None:
    result = host.run("python3 -c 'import sys, json; print(json.dumps([6 * 7, sys.prefix]))'")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == '[42, "/opt/venv"]'
    assert host.environment()["PYTHONDONTWRITEBYTECODE"] == "1"
    assert host.environment()["PYTHONUNBUFFERED"] == "1"


def test_no_file_has_the_setuid_or_setgid_bit(root_host: Host) -> None:
    result = root_host.run("find / -xdev -type f -perm /6000")
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == []


def test_the_venv_cannot_be_changed_by_the_service_user(host: Host) -> None:
    assert host.file("/opt/venv").user == "root"
    assert host.run("touch /opt/venv/bin/x").rc != 0


def test_healthcheck_helper_reports_an_unreachable_url(host: Host) -> None:
    result = host.run("lms-healthcheck http://127.0.0.1:9/healthz")
    assert result.rc == 1
    assert "unhealthy: http://127.0.0.1:9/healthz" in result.stderr


def test_oci_labels_are_present_and_name_the_commit(docker: Docker, repo: Repo, python_image: Built) -> None:
    labels = docker.image_labels(python_image.reference)
    missing = [key for key in OCI_LABELS if not labels.get(f"org.opencontainers.image.{key}")]
    assert missing == []
    assert labels["org.opencontainers.image.title"] == "python"
    assert labels["org.opencontainers.image.base.name"] == "debian:bookworm-slim"
    assert labels["org.opencontainers.image.base.digest"] == docker.image_id("debian:bookworm-slim")
    # The commit the image was built from: this one, or an earlier one with the same inputs
    # (an image whose inputs did not change is reused, not rebuilt).
    revision = labels["org.opencontainers.image.revision"].removesuffix("-dirty")
    ancestry = proc.run(["git", "-C", str(repo.root), "merge-base", "--is-ancestor", revision, "HEAD"], check=False)
    assert ancestry.returncode == 0, f"revision {revision} is not a commit of this repository's history"


def test_sigterm_reaches_the_process_through_tini(docker: Docker, python_image: Built, scratch_prefix: str) -> None:
    # The program exits 0 only from its SIGTERM handler; without signal forwarding docker stop
    # would have to SIGKILL it after the timeout (exit code 137).
    program = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    with scratch_container(
        docker, python_image.reference, args=["python3", "-c", program], prefix=scratch_prefix
    ) as name:
        docker.wait_for_log(name, "ready", timeout=30)
        docker.stop_container(name, timeout=20)
        state = docker.container_inspect(name)["State"]
        assert isinstance(state, dict)
        assert state["ExitCode"] == 0


def test_build_stage_has_the_same_python_as_the_runtime(
    docker: Docker, base_images: dict[str, Built], scratch_prefix: str
) -> None:
    # python-build builds on the OS root (python has no apt); both must install the same python3,
    # or the venv copied from one into the other would point at another interpreter.
    query = ["dpkg-query", "--showformat", "${Package}=${Version}\\n", "--show", "python3*", "libpython3*"]
    versions = {}
    for name in ("python", "python-build"):
        image = base_images[name].reference
        with scratch_container(docker, image, args=["sleep", "infinity"], prefix=scratch_prefix) as container:
            result = docker.exec(container, *query)
            assert result.returncode == 0, result.output
            versions[name] = {line for line in result.stdout.split() if not line.startswith("python3-pip")}
    runtime = versions["python"]
    assert runtime and runtime <= versions["python-build"], runtime - versions["python-build"]
