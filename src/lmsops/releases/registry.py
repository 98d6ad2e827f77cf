"""The image registry of the pipeline: build -> push -> deploy by digest.

Environments name their registry (`target.registry` in env/<env>.yaml: GHCR, a self-hosted one).
For one machine without any registry, lmsops runs its own on loopback (`nox -s registry -- up`):
the `registry` base image (Debian's docker-registry) as the container `lmsops-registry`, its data
on the volume `lmsops-registry`. A loopback registry is started on first use.
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
    docker.run_detached(
        reference,
        name=CONTAINER,
        labels={LABEL: address},
        ports=[f"127.0.0.1:{port}:5000"],
        volumes=[f"{VOLUME}:/var/lib/docker-registry"],
        restart="unless-stopped",
    )
    deadline = time.monotonic() + 30
    while not answers(address, timeout=1.0):
        if time.monotonic() > deadline:
            logs = docker.logs(CONTAINER, tail=5, check=False)
            raise PrerequisiteError(f"the local registry did not answer on {address} within 30 s:\n{logs}")
        time.sleep(0.3)
    report.say(f"    registry {address}: started ({CONTAINER}, data on volume {VOLUME}) in {seconds(started)}")


def registry_down(docker: Docker, report: Reporter, volumes: bool) -> None:
    docker.remove_containers([CONTAINER])
    if volumes:
        docker.volume_rm([VOLUME])
    report.say(f"    {CONTAINER}: removed{' with its images (volume ' + VOLUME + ')' if volumes else ''}")
