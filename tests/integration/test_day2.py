"""Day-2 commands on a real Compose project and a real Swarm stack: a throwaway dev and a throwaway
staging (lms-dev-d2, lms-staging-d2), deployed once for the module and removed with their volumes
after. On each: `ps` lists every service running, `logs` shows a service's startup line, `exec` runs
in a running container, `run` runs once with the service's own secret and passes its exit code
through, and leaves nothing behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lmsops.cli import day2, main
from lmsops.core.docker import Docker
from lmsops.environments.database_jobs import JOB_LABEL
from lmsops.images.build import Built
from tests.conftest import worker_suffix
from tests.integration.conftest import Renamed, environments_deployed, renamed

ENVS = ["dev", "staging"]
READS_ITS_PASSWORD = "import os; print(open(os.environ['LMS_DATABASE_PASSWORD_FILE']).read().strip() != '')"  # noqa: S105 - a program, not a password


@pytest.fixture(scope="module")
def deployed_since() -> str:
    """When the module's deploys began (a second early: docker's --since takes whole seconds)."""
    return (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def envs(
    docker: Docker, platform_images: dict[str, Built], swarm: None, swarm_secrets: None, deployed_since: str
) -> Iterator[Renamed]:
    copies = renamed(f"-d2{worker_suffix()}", ENVS)
    with environments_deployed(copies, docker):
        yield copies
    assert docker.containers_with_label(f"{JOB_LABEL}=run") == [], "a `run` container was left behind"


@pytest.fixture(autouse=True)
def cli_on_the_copies(monkeypatch: pytest.MonkeyPatch, envs: Renamed) -> None:
    monkeypatch.setattr(day2, "repository", lambda: envs.repo)


def lmsops(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`lmsops ARGV` in this process; what it and the programs it ran printed (file descriptor 1)."""
    code = main(list(argv))
    return code, capfd.readouterr().out


@pytest.mark.parametrize("env", ENVS)
def test_ps_lists_every_service_running_and_healthy(capfd: pytest.CaptureFixture[str], env: str) -> None:
    code, out = lmsops(capfd, "ps", env, "--json")
    rows = json.loads(out)
    assert code == 0
    running = {row["service"] for row in rows if row["state"] == "running"}
    assert running == {"catalog", "enrollment", "gateway", "gateway-routes", "postgres"}
    assert all(row["health"] == "healthy" for row in rows if row["service"] == "catalog"), rows
    code, table = lmsops(capfd, "ps", env)
    print(table)  # shown with -s: the table as an operator reads it
    assert table.splitlines()[0].split()[:2] == ["SERVICE", "NAME"]


@pytest.mark.parametrize("env", ENVS)
def test_logs_show_a_services_startup_line_prefixed_with_it(
    capfd: pytest.CaptureFixture[str], env: str, deployed_since: str
) -> None:
    # Since the deploy, not the last N lines: dev's enrollment logs at debug level, ~6 lines a second,
    # and its startup line left a 500-line tail ~75 s after the deploy (a fresh CI run failed on it).
    code, out = lmsops(capfd, "logs", env, "catalog", "enrollment", "--since", deployed_since)
    assert code == 0
    started = [line for line in out.splitlines() if "Started server process" in line]
    assert {line.split("-" if env == "dev" else ".", 1)[0].split()[0] for line in started} == {"catalog", "enrollment"}


@pytest.mark.parametrize("env", ENVS)
def test_exec_runs_in_a_running_container_and_passes_its_exit_code(capfd: pytest.CaptureFixture[str], env: str) -> None:
    code, out = lmsops(capfd, "exec", env, "catalog", "--", "cat", "/srv/build-info.json")
    assert code == 0
    assert json.loads(out)["version"]
    code, _ = lmsops(capfd, "exec", env, "catalog", "--", "sh", "-c", "exit 4")
    assert code == 4


@pytest.mark.parametrize("env", ENVS)
def test_exec_passes_stdin_to_the_command(capfd: pytest.CaptureFixture[str], env: str) -> None:
    """`echo ... | nox -s exec -- ENV SERVICE -- CMD` without a terminal: CMD reads what was piped."""
    read, write = os.pipe()
    os.write(write, b"piped into exec\n")
    os.close(write)
    saved = os.dup(0)
    os.dup2(read, 0)  # this process's stdin, which the docker CLI it runs inherits
    try:
        code, out = lmsops(capfd, "exec", env, "catalog", "--", "sh", "-c", "tr a-z A-Z")
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read)
    assert (code, out) == (0, "PIPED INTO EXEC\n")


@pytest.mark.parametrize("env", ENVS)
def test_run_has_the_services_secret_and_passes_its_exit_code(
    capfd: pytest.CaptureFixture[str], env: str, docker: Docker
) -> None:
    code, out = lmsops(capfd, "run", env, "catalog", "--", "python3", "-c", READS_ITS_PASSWORD)
    assert (code, out.strip().splitlines()[-1]) == (0, "True")
    code, _ = lmsops(capfd, "run", env, "catalog", "--", "python3", "-c", "raise SystemExit(3)")
    assert code == 3
    assert docker.containers_with_label(f"{JOB_LABEL}=run") == []
    assert docker.run("service", "ls", "--quiet", "--filter", f"label={JOB_LABEL}=run").stdout.strip() == ""
