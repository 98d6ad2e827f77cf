"""The image registry of the pipeline: build -> push -> deploy by digest.

Environments name their registry (`target.registry` in env/<env>.yaml: GHCR, a self-hosted one).
For one machine without any registry, lmsops runs its own on loopback (`nox -s registry -- up`):
the `registry` base image (Debian's docker-registry) as the container `lmsops-registry`, its data
on the volume `lmsops-registry`. A loopback registry is started on first use, confined (read-only
root, no capabilities, no new privileges, memory/CPU/pids limits, restart on-failure:5), and is
ready once its healthcheck passes (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import time
import urllib.error
import urllib.request

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, PrerequisiteError
from lmsops.core.progress import Reporter, seconds
from lmsops.images.context import Context

CONTAINER = "lmsops-registry"
VOLUME = "lmsops-registry"
LABEL = "org.lmsops.registry"
IMAGE = "registry"
# CIS Docker Benchmark 5.11, 5.12, 5.29: what the container may use. Measured: ~25 MiB and 8 pids
# while it received a 350 MB image (docs/security.md).
MEMORY, CPUS, PIDS = "256m", 1.0, 128
START_TIMEOUT = 30.0  # seconds until it must be healthy (its first healthcheck runs after 3 s)


def split_address(address: str) -> tuple[str, int]:
    """Host and port of a registry address HOST[:PORT][/PATH] (ghcr.io/<org>: port 443, as Docker has
    it); a loopback registry names its port (lmsops starts its own there)."""
    hostport = address.split("/", 1)[0]
    host, colon, port = hostport.rpartition(":")
    if not colon:
        host, port = hostport, "443"
        if host == "localhost" or host.startswith("127."):
            host = ""
    if not host or not port.isdigit():
        raise ConfigError(f"registry {address!r}: give HOST[:PORT][/PATH], e.g. 127.0.0.1:5000 or ghcr.io/<org>")
    return host, int(port)


def is_loopback(address: str) -> bool:
    host, _ = split_address(address)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def answers(address: str, timeout: float = 2.0) -> bool:
    """Does a registry (the distribution API) answer at address?"""
    scheme = "http" if is_loopback(address) else "https"
    try:
        host, port = split_address(address)
        with urllib.request.urlopen(f"{scheme}://{host}:{port}/v2/", timeout=timeout) as response:  # noqa: S310
            return int(response.status) in (200, 401)
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # a registry that wants a login still answers
    except (urllib.error.URLError, OSError):
        return False


def registry_up(ctx: Context, address: str) -> None:
    """Make sure the registry at address answers; start lmsops's own when it is a free loopback port."""
    docker, report = ctx.docker, ctx.report
    if answers(address):
        report.say(f"    registry {address}: answering")
        return
    if not is_loopback(address):
        raise PrerequisiteError(f"registry {address} does not answer; check the address and your login (docker login)")
    started = time.monotonic()
    _, port = split_address(address)
    if IMAGE not in ctx.versions().images:
        raise ConfigError(f"base-images/versions.yaml: no image {IMAGE!r}; lmsops's local registry is built from it")
    ctx.build_only([IMAGE])
    reference = ctx.reference(IMAGE)
    docker.remove_containers([CONTAINER])
    docker.run_confined(
        reference,
        name=CONTAINER,
        labels={LABEL: address},
        memory=MEMORY,
        cpus=CPUS,
        pids=PIDS,
        ports=[f"127.0.0.1:{port}:5000"],  # loopback only: the registry has no authentication
        volumes=[f"{VOLUME}:/var/lib/docker-registry"],  # the only place it writes (root is read-only)
    )
    report.say(f"    registry {address}: {CONTAINER} created, waiting for its healthcheck (GET /v2/)")
    _wait_healthy(docker, address, started)
    report.say(f"    registry {address}: started ({CONTAINER}, data on volume {VOLUME}) in {seconds(started)}")


def _wait_healthy(docker: Docker, address: str, started: float) -> None:
    """Until the container is healthy (its image's HEALTHCHECK: GET /v2/) and answers on address; a
    container that exited or turned unhealthy fails at once, one that is still starting at the deadline."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        state, health = _state(docker)
        if (state, health) == ("running", "healthy") and answers(address, timeout=1.0):
            return
        if state in {"exited", "dead"} or health == "unhealthy" or time.monotonic() > deadline:
            shown = f"{state}, {health}" if health else state
            raise PrerequisiteError(
                f"the local registry container {CONTAINER} is not healthy on {address} after {seconds(started)} "
                f"({shown}); see `docker logs {CONTAINER}`"
            )
        time.sleep(0.5)


def _state(docker: Docker) -> tuple[str, str]:
    """The container's state (running, restarting, exited, ...) and health ('' without a healthcheck)."""
    state = docker.container_inspect(CONTAINER).get("State")
    if not isinstance(state, dict):
        return "unknown", ""
    health = state.get("Health")
    return str(state.get("Status", "unknown")), str(health.get("Status", "")) if isinstance(health, dict) else ""


def registry_down(docker: Docker, report: Reporter, volumes: bool) -> None:
    docker.remove_containers([CONTAINER])
    if volumes:
        docker.volume_rm([VOLUME])
    report.say(f"    {CONTAINER}: removed{' with its images (volume ' + VOLUME + ')' if volumes else ''}")
