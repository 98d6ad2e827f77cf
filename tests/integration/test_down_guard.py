"""`down` of a protected environment (production: target.confirm: true) without --yes is refused in
one line before anything is asked of Docker: with every engine address pointing nowhere, the answer
is still the refusal, so nothing can have been read or removed, and no production need exist."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lmsops.core.paths import find_repo

NOWHERE = "unix:///nonexistent/lmsops-down-guard.sock"  # no engine answers here


@pytest.mark.parametrize(("flags", "typed"), [(["--volumes"], "production --volumes --yes"), ([], "production --yes")])
def test_down_of_production_without_yes_is_refused_before_any_docker_call(flags: list[str], typed: str) -> None:
    engines = {"DOCKER_HOST": NOWHERE, "LMSOPS_PRODUCTION_DOCKER_HOST": NOWHERE, "DOCKER_CONTEXT": "default"}
    result = subprocess.run(
        [sys.executable, "-m", "lmsops", "down", "production", *flags],
        cwd=find_repo().root, env={**os.environ, **engines}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr)  # a user mistake (lmsops.core.errors)
    assert result.stderr.splitlines() == [
        f"lmsops: error: removing production needs an explicit confirmation: nox -s down -- {typed}"
    ]
    assert result.stdout == "", "nothing listed, nothing removed"
