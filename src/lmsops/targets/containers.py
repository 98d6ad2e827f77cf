"""Throw-away containers for checks and tests: a plain context manager, usable outside pytest."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from lmsops.core.docker import Docker

TEST_LABEL = "org.lmsops.scratch"


@contextmanager
def scratch_container(
    docker: Docker,
    image: str,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    binds: Sequence[tuple[Path, str]] = (),
    prefix: str = "lmsops-scratch",
) -> Iterator[str]:
    """Run image in the background with a unique name; always remove it (and its volumes) after."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    try:
        docker.run_detached(image, name=name, labels={TEST_LABEL: prefix}, env=env, binds=binds, args=args)
        yield name
    finally:
        docker.remove_container(name)


def remove_leftovers(docker: Docker, prefix: str) -> int:
    """Remove scratch containers an interrupted earlier run left behind; return how many."""
    leftovers = docker.containers_with_label(f"{TEST_LABEL}={prefix}")
    for container in leftovers:
        docker.remove_container(container)
    return len(leftovers)
