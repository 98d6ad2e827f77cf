"""The README's Prerequisites and Quickstart, as written, on a fresh Debian 12 machine: the project's own
OS root image (base-images/versions.yaml `os`: debian:bookworm-slim, Debian 12) with the host's Docker
socket, from a fresh clone of this commit. It talks only to Debian's mirror, PyPI, the engine and
what it deploys on loopback; the host's CA bundle goes in when pip is told to use one (a
TLS-intercepting proxy).

What it runs, every command read from README.md (tests/quickstart/readme.py), in order:
- the Prerequisites block (sudo dropped: root in the container), then curl (not in the image; the
  Quickstart's example request uses it);
- every command of the Quickstart's sh blocks: `nox -s deploy -- dev`, `nox -s new_service -- grades`,
  `nox -s deploy -- dev` (now with grades), the curl POST, `nox -s deploy -- staging --init-swarm`
  (its secrets: a random value in each LMSOPS_STAGING_* variable, made in the container, written
  nowhere) and `nox -s status -- staging`. Left out: the bare `nox`, the whole test suite (about 22
  minutes), which is exactly what CI's .ci/run runs on this same machine.
Then the host checks what a user would: the POST answered 201 with the course, the new service
answers through dev's gateway, and dev and staging run every service of services/ (the new one too).

How: the clone is mounted at the same absolute path inside the container as on the host, so the
files Compose bind-mounts (dev's generated secrets) resolve on the host's engine; `--network host`, so
the container's curl and lmsops reach the gateway and the registry on the host's 127.0.0.1. The
deploys use the real names (lms-dev, lms-staging) on the shared engine: the run refuses when either is
there already and removes both, and everything else it made, afterwards (tests/quickstart/engine.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.paths import Repo, find_repo
from lmsops.core.progress import Reporter
from lmsops.environments.config import load_environment
from lmsops.environments.model import model_services
from lmsops.images.versions import load_versions
from lmsops.targets.containers import TEST_LABEL
from tests.quickstart.engine import REFUSED, Before, Targets, put_back, refusal
from tests.quickstart.readme import RESULTS, Readme, script

REPO = find_repo(Path(__file__).parent)
TIMEOUT = 1800  # seconds in the container; 262 s measured with the base images built (docs/development.md)
CA = "/etc/ssl/certs/host-ca.crt"


@pytest.fixture
def engine(docker: Docker) -> Iterator[Targets]:
    """The engine, free of dev and staging (or the run stops here, exit 3); put back afterwards."""
    targets = Targets.of(REPO)
    message = refusal(docker, targets)
    if message:
        pytest.exit(message, returncode=REFUSED)
    before = Before.of(docker)
    yield targets
    left = put_back(docker, targets, before, Reporter())
    assert not left, "the quickstart run left the engine changed:\n" + "\n".join(left)


@pytest.fixture
def clone(tmp_path: Path, engine: Targets) -> Iterator[Path]:
    """A fresh clone of this commit (what a new user starts from): no .venv, .nox or .lmsops."""
    target = tmp_path / "lmsops"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO.root), str(target)], check=True)
    yield target
    shutil.rmtree(target)  # its venvs and .nox are hundreds of MB


def run_in_container(docker: Docker, clone: Path, bash: str) -> tuple[int, str]:
    """Run the script in a fresh OS-root container, its output shown as it comes; (exit code, output)."""
    image = load_versions(REPO).os.reference
    name = f"lmsops-quickstart-{uuid.uuid4().hex[:8]}"
    argv = ["run", "--rm", "--name", name, "--label", f"{TEST_LABEL}=quickstart", "--network", "host"]
    argv += ["--volume", "/var/run/docker.sock:/var/run/docker.sock", "--volume", f"{clone}:{clone}"]
    argv += ["--workdir", str(clone)]
    host_ca = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if host_ca and Path(host_ca).is_file():
        argv += ["--volume", f"{host_ca}:{CA}:ro", "--env", f"PIP_CERT={CA}", "--env", f"SSL_CERT_FILE={CA}"]
    argv += ["--pull", "never", image, "bash", "-c", bash]
    lines: list[str] = []
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        docker.run("kill", name, check=False)

    def show(_key: str, line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    timer = threading.Timer(TIMEOUT, stop)
    timer.start()
    try:
        code = docker.merged({"run": argv}, show)["run"]
    finally:
        timer.cancel()
        docker.run("rm", "--force", name, check=False)
    if expired.is_set():
        pytest.fail(f"the README's Prerequisites and Quickstart took more than {TIMEOUT} s in the container")
    return code, "\n".join(lines)


def answer(path: Path) -> tuple[int, object]:
    """(HTTP status, JSON body) of a curl run with -w '\\nHTTP %{http_code}\\n'."""
    body, _, status = path.read_text(encoding="utf-8").rstrip("\n").rpartition("\nHTTP ")
    return int(status), json.loads(body)


def compose_services(docker: Docker, project: str) -> Counter[str]:
    """Compose service -> its containers that run and are healthy (or have no health check)."""
    healthy: Counter[str] = Counter()
    for container in docker.inspect_containers(f"com.docker.compose.project={project}"):
        state = container["State"]
        if state["Running"] and state.get("Health", {"Status": "healthy"})["Status"] == "healthy":
            healthy[container["Config"]["Labels"]["com.docker.compose.service"]] += 1
    return healthy


def swarm_services(docker: Docker, stack: str) -> dict[str, tuple[int, int]]:
    """Swarm service (without the stack's prefix) -> (running tasks, desired replicas)."""
    running = Counter(t["ServiceID"] for t in docker.stack_tasks(stack) if t["Status"]["State"] == "running")
    return {
        s["Spec"]["Name"].removeprefix(f"{stack}_"): (running[s["ID"]], s["Spec"]["Mode"]["Replicated"]["Replicas"])
        for s in docker.stack_services(stack)
        if "Replicated" in s["Spec"]["Mode"]
    }


def test_readme_prerequisites_and_quickstart_on_a_fresh_debian_12(docker: Docker, engine: Targets, clone: Path) -> None:
    readme = Readme.read(clone / "README.md")  # the clone's: what a new user reads
    new = readme.new_service()
    port = load_environment(Repo(clone), "dev", model_services(Repo(clone))).values["LMS_GATEWAY_PORT"]
    secrets = ".nox/deploy/bin/python -m tests.quickstart.staging_secrets staging"
    bash = script(readme, secrets=secrets, check_url=f"http://127.0.0.1:{port}/{new}/items")
    code, output = run_in_container(docker, clone, bash)
    assert code == 0, f"the run stopped (exit {code}); its end:\n{output[-3000:]}"
    typed = [line.removeprefix("$ ") for line in output.splitlines() if line.startswith("$ ")]
    assert typed == readme.run(), "the Quickstart's commands did not all run, in order"
    assert "Docker Compose" in output and ": ready" in output  # nox -s check, in the prerequisites

    status, course = answer(clone / RESULTS / "curl.out")
    assert status == 201 and isinstance(course, dict), f"the Quickstart's POST answered {status}: {course}"
    posted = readme.posted()
    assert {key: course.get(key) for key in posted} == posted, f"posted {posted}, got back {course}"
    status, page = answer(clone / RESULTS / "new-service.out")
    assert status == 200 and isinstance(page, dict) and "items" in page, f"{new} in dev answered {status}: {page}"

    services = {p.name for p in (clone / "services").iterdir() if (p / "Dockerfile").is_file()}
    assert new in services
    dev = compose_services(docker, engine.dev)
    assert {s for s in services if dev[s] == 0} == set(), f"dev's running, healthy containers: {dict(dev)}"
    staging = swarm_services(docker, engine.staging)
    short = {s: staging.get(s) for s in services if s not in staging or staging[s][0] != staging[s][1]}
    assert short == {}, f"staging's services, (running, desired): {staging}"
