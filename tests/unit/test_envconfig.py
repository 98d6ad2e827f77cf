"""Loading and validating environments: every user mistake is one clear, complete report."""

from __future__ import annotations

import pytest
import yaml

from lmsops.bench.throwaway import throwaway_environments
from lmsops.cli import main
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.environments.config import known_environments, load_environment
from lmsops.environments.model import model_services


def edit(repo: Repo, env: str, change: dict[str, object]) -> None:
    path = repo.root / "env" / f"{env}.yaml"
    data = yaml.safe_load(path.read_text())
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    path.write_text(yaml.safe_dump(data))


def problems(repo: Repo, env: str) -> str:
    with pytest.raises(ConfigError) as error:
        load_environment(repo, env, model_services(repo))
    return str(error.value)


@pytest.mark.parametrize("env", ["dev", "staging", "production"])
def test_the_shipped_environments_are_valid(project: Repo, env: str) -> None:
    loaded = load_environment(project, env, model_services(project))
    assert loaded.values["LMS_GATEWAY_PORT"].isdigit()
    assert loaded.values["LMS_LOG_LEVEL"] in {"debug", "info", "warning"}


def test_unknown_environment_lists_the_known_ones(project: Repo) -> None:
    assert (
        problems(project, "prod")
        == "unknown environment 'prod'; known: dev, production, staging (one file each in env/)"
    )


def test_missing_required_variable(project: Repo) -> None:
    edit(project, "staging", {"variables.LMS_GATEWAY_PORT": None})
    message = problems(project, "staging")
    assert message.startswith("env/staging.yaml: 1 problem(s):")
    assert "variables.LMS_GATEWAY_PORT: required (Port on which the gateway is published" in message


def test_wrong_type_and_wrong_choice(project: Repo) -> None:
    edit(project, "dev", {"variables.LMS_GATEWAY_PORT": "eighty", "variables.LMS_LOG_LEVEL": "loud"})
    message = problems(project, "dev")
    assert "2 problem(s)" in message
    assert "variables.LMS_GATEWAY_PORT: 'eighty' is not a integer" in message
    assert "variables.LMS_LOG_LEVEL: 'loud' is not one of debug, info, warning, error" in message


def test_a_secret_value_written_into_an_env_file(project: Repo) -> None:
    edit(project, "staging", {"secrets.postgres-password": "hunter2"})
    assert "secrets.postgres-password: a secret's value may not be written in env/" in problems(project, "staging")
    edit(project, "staging", {"secrets.postgres-password": None, "variables.LMS_DB_PASSWORD": "hunter2"})
    message = problems(project, "staging")
    assert "variables.LMS_DB_PASSWORD: not declared in the schema; it looks like a secret" in message


def test_a_variable_the_schema_does_not_declare(project: Repo) -> None:
    edit(project, "production", {"variables.LMS_FEATURE_X": True})
    message = problems(project, "production")
    assert "variables.LMS_FEATURE_X: not declared in the schema; declare it in env/schema.yaml" in message


def test_every_problem_is_reported_at_once(project: Repo) -> None:
    edit(
        project,
        "staging",
        {
            "variables.LMS_FEATURE_X": 1,
            "variables.LMS_GATEWAY_PORT": None,
            "variables.LMS_CATALOG_IMAGE": "x",
            "deploy.replicas.catalgo": 3,
            "secret_source": {"generate": True},
        },
    )
    message = problems(project, "staging")
    assert "5 problem(s)" in message
    for key in (
        "LMS_FEATURE_X",
        "LMS_GATEWAY_PORT",
        "LMS_CATALOG_IMAGE: set by lmsops",
        "deploy.replicas.catalgo",
        "generate",
    ):
        assert key in message


def test_structure_errors_name_the_key(project: Repo) -> None:
    edit(project, "staging", {"target.kind": "kubernetes", "deploy.monitor": "soon"})
    message = problems(project, "staging")
    assert "target.kind" in message and "deploy.monitor" in message


def test_a_service_brings_its_own_schema_entries(project: Repo) -> None:
    schema = project.services / "catalog" / "env.schema.yaml"
    schema.write_text(
        schema.read_text() + "variables:\n  LMS_LOG_LEVEL:\n    description: x\n    services: [catalog]\n"
    )
    assert "LMS_LOG_LEVEL is already declared in env/schema.yaml" in problems(project, "dev")


def test_throwaway_environments_are_renamed_copies_that_deploy_like_any_other(project: Repo) -> None:
    copies = throwaway_environments(project, "-it", {"production": {"LMS_GATEWAY_PORT": "31000"}}, context="elsewhere")
    assert known_environments(copies) == known_environments(project)  # all copied: services name them
    env = load_environment(copies, "production", model_services(copies))
    assert env.target.name == "lms-production-it"
    assert env.values["LMS_GATEWAY_PORT"] == "31000"
    assert (env.target.context, env.target.host) == ("elsewhere", None)
    assert env.target.confirm is False, "the copy says so in its own file, read like any env file"
    assert "confirm: false" in (copies.environments / "production.yaml").read_text()
    original = load_environment(project, "production", model_services(project))
    assert (original.target.name, original.target.confirm) == ("lms-production", True)
    staging = load_environment(copies, "staging", model_services(copies))
    assert staging.target.name == "lms-staging-it", "environments without values are renamed too"


def test_a_throwaway_suffix_must_look_like_one_and_name_known_environments(project: Repo) -> None:
    with pytest.raises(ConfigError, match="a throwaway suffix looks like -bench"):
        throwaway_environments(project, "../x", {"dev": {}})
    with pytest.raises(ConfigError, match="no environment 'prod' to copy; known: dev, production, staging"):
        throwaway_environments(project, "-it", {"prod": {}})


def test_cli_config_of_a_bad_environment_is_one_report_without_docker(
    project: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LMSOPS_ROOT", str(project.root))
    monkeypatch.setenv("PATH", "/nonexistent")  # no docker at all: validation comes first
    assert main(["config", "prod"]) == 2
    assert main(["deploy", "prod"]) == 2
    err = capsys.readouterr().err
    assert err.count("lmsops: error: unknown environment 'prod'") == 2
    assert "Traceback" not in err


def test_where_an_environment_runs_can_come_from_the_pipelines_environment(
    project: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """target.host / context / registry may name an environment variable (a CI secret): `${NAME}`,
    `${NAME:-default}`; empty means the local engine."""
    edit(
        project,
        "staging",
        {"target.host": "${LMSOPS_STAGING_DOCKER_HOST:-}", "target.registry": "${REG:-127.0.0.1:5000}"},
    )
    monkeypatch.delenv("LMSOPS_STAGING_DOCKER_HOST", raising=False)
    monkeypatch.delenv("REG", raising=False)
    local = load_environment(project, "staging", model_services(project)).target
    assert (local.host, local.context, local.registry) == (None, None, "127.0.0.1:5000")
    monkeypatch.setenv("LMSOPS_STAGING_DOCKER_HOST", "ssh://deploy@staging-manager")
    monkeypatch.setenv("REG", "ghcr.io/lms")
    remote = load_environment(project, "staging", model_services(project)).target
    assert (remote.host, remote.registry) == ("ssh://deploy@staging-manager", "ghcr.io/lms")


def test_a_required_environment_variable_that_is_not_set_is_named(
    project: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(project, "production", {"target.host": "${LMSOPS_PRODUCTION_DOCKER_HOST}"})
    monkeypatch.delenv("LMSOPS_PRODUCTION_DOCKER_HOST", raising=False)
    message = problems(project, "production")
    assert message.startswith("env/production.yaml: 1 problem(s):")
    assert "target.host: ${LMSOPS_PRODUCTION_DOCKER_HOST} is not set in the environment" in message
