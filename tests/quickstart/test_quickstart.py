"""The README's prerequisites and first Quickstart steps, as written, on a fresh Debian 12 machine: the
project's own OS root image (base-images/versions.yaml `os`: debian:bookworm-slim, Debian 12) with the
host's Docker socket, from a fresh clone of this commit. It talks only to Debian's mirror, PyPI and the
engine; the host's CA bundle goes in when pip is told to use one (a TLS-intercepting proxy).

What it runs: the README's prerequisites block (sudo dropped: root in the container), then `nox
--version`, `nox -s check`, `nox -s config -- nosuchenv` (exit 2 through nox), `nox -s new_service --
grades` (copier from the session's pinned tools) and `nox -s config -- dev` (Compose v2 resolving the
model against the engine). The deploy itself is not run here: on a shared engine it would replace the
operator's own dev; docs/development.md shows a full run in a scratch copy."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

from lmsops.core.paths import find_repo
from lmsops.images.versions import load_versions
from lmsops.targets.containers import TEST_LABEL

REPO = find_repo(Path(__file__).parent)
TIMEOUT = 1500  # seconds; 130 s measured on a loaded 2-core machine (docs/development.md)
CA = "/etc/ssl/certs/host-ca.crt"


def readme_block(heading: str) -> str:
    """The first ```sh block under a README heading."""
    text = (REPO.root / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, f"README.md: no sh block under ## {heading}"
    return found.group(1)


def quickstart_script() -> str:
    prerequisites = re.sub(r"(^|\s)sudo ", r"\1", readme_block("Prerequisites"))
    return "\n".join(
        [
            "set -eu",
            "export DEBIAN_FRONTEND=noninteractive",
            "apt-get update -qq",  # a fresh machine's package lists
            "cd /work/lmsops",
            "echo '== README prerequisites'",
            prerequisites,
            "echo '== after them'",
            "nox --version",
            "nox -s config -- nosuchenv && exit 90 || code=$?",
            'echo "nox -s config -- nosuchenv: exit $code"; [ "$code" = 2 ]',
            "nox -s new_service -- grades",
            "test -f services/grades/.copier-answers.yml",
            ".nox/new_service/bin/copier --version",
            "nox -s config -- dev > /tmp/dev-model.yaml",
            "grep -q 'grades:' /tmp/dev-model.yaml && echo 'nox -s config -- dev: the model has grades'",
            "echo '== quickstart ok'",
        ]
    )


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone of this commit (what a new user starts from): no .venv, .nox or .lmsops."""
    target = tmp_path / "lmsops"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO.root), str(target)], check=True)
    return target


def test_readme_prerequisites_and_quickstart_on_a_fresh_debian_12(clone: Path) -> None:
    # The OS root as every base builds FROM it: pulled by digest or debootstrapped offline under this name
    # (the integration session builds it first, `lmsops build --offline`).
    image = load_versions(REPO).os.reference
    name = f"lmsops-quickstart-{uuid.uuid4().hex[:8]}"
    argv = ["docker", "run", "--rm", "--name", name, "--label", f"{TEST_LABEL}=quickstart"]
    argv += ["-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", f"{clone}:/work/lmsops"]
    host_ca = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if host_ca and Path(host_ca).is_file():
        argv += ["-v", f"{host_ca}:{CA}:ro", "-e", f"PIP_CERT={CA}", "-e", f"SSL_CERT_FILE={CA}"]
    argv += [image, "bash", "-c", quickstart_script()]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        pytest.fail(f"the README's first steps took more than {TIMEOUT} s in a fresh Debian 12 container")
    output = run.stdout + run.stderr
    print(output)  # shown with -s: the run as docs/development.md quotes it
    assert run.returncode == 0, f"{shlex.join(argv[:-1])} ...\n{output[-6000:]}"
    assert "Docker Compose" in output and ": ready" in output  # nox -s check
    assert "nox -s config -- nosuchenv: exit 2" in output
    assert "nox -s config -- dev: the model has grades" in output
    assert "== quickstart ok" in output
