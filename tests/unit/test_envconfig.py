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
from lmsops.releases.registry import split_address


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
    assert message.startswith("env/staging.yaml: 1 problem:")
    assert "variables.LMS_GATEWAY_PORT: required (Port on which the gateway is published" in message


def test_wrong_type_and_wrong_choice(project: Repo) -> None:
    edit(project, "dev", {"variables.LMS_GATEWAY_PORT": "eighty", "variables.LMS_LOG_LEVEL": "loud"})
    message = problems(project, "dev")
    assert "2 problems" in message
    assert "variables.LMS_GATEWAY_PORT: 'eighty' is not an integer" in message
    assert "variables.LMS_LOG_LEVEL: 'loud' is not one of debug, info, warning, error" in message


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LMS_GATEWAY_PORT", True, "True is not an integer"),
        ("LMS_GATEWAY_PORT", 18.5, "18.5 is not an integer"),
        ("LMS_LOG_LEVEL", 3, "3 is not a string"),
        ("LMS_LOG_LEVEL", "infos", "'infos' is not one of debug, info, warning, error (did you mean 'info'?)"),
        ("LMS_GATEWAY_BIND", "localhost", "'localhost' does not match the pattern ^[0-9.]+$"),
        ("LMS_GATEWAY_BIND", [1], "[1] is not a string"),
    ],
)
def test_each_wrong_value_in_plain_english(project: Repo, variable: str, value: object, expected: str) -> None:
    edit(project, "dev", {f"variables.{variable}": value})
    assert problems(project, "dev") == f"env/dev.yaml: 1 problem:\n  - variables.{variable}: {expected}"


def test_a_variable_without_a_value_is_named(project: Repo) -> None:
    path = project.environments / "dev.yaml"
    path.write_text(path.read_text().replace("LMS_LOG_LEVEL: debug", "LMS_LOG_LEVEL:"))
    assert problems(project, "dev") == (
        "env/dev.yaml: 1 problem:\n  - variables.LMS_LOG_LEVEL: has no value; give one, or remove the key to take "
        "the default"
    )


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
    assert "5 problems" in message
    for key in (
        "LMS_FEATURE_X",
        "LMS_GATEWAY_PORT",
        "LMS_CATALOG_IMAGE: set by lmsops",
        "deploy.replicas.catalgo",
        "generate",
    ):
        assert key in message


def test_a_type_error_does_not_hide_the_other_problems(project: Repo) -> None:
    """Structure (pydantic) and values (the schema) are checked independently: one run lists all."""
    edit(
        project,
        "staging",
        {
            "deploy.timeout": "soon",  # a type error in one section ...
            "target.kind": "kubernetes",
            "deploy.replicsa": {"catalog": 2},  # ... a misspelt key ...
            "secret_sorce": {"dir": "/tmp"},
            "variables.LMS_LOG_LEVL": "debug",  # ... and the schema's problems, all in one report
            "variables.LMS_GATEWAY_PORT": "x",
            "deploy.resources": {"catalgo": {"cpus": 1}},
            "secrets.postgres-pasword": {"env": "X"},
        },
    )
    message = problems(project, "staging")
    lines = message.splitlines()[1:]
    assert message.startswith(f"env/staging.yaml: {len(lines)} problems:")
    assert sorted(lines) == sorted(
        [
            "  - target.kind: Input should be 'compose' or 'swarm'",
            "  - deploy.replicsa: unknown key (did you mean 'replicas'?); fix or remove it",
            "  - deploy.timeout: Input should be a valid integer, unable to parse string as an integer",
            "  - secret_sorce: unknown key (did you mean 'secret_source'?); fix or remove it",
            "  - variables.LMS_LOG_LEVL: not declared in the schema (did you mean 'LMS_LOG_LEVEL'?); declare it in "
            "env/schema.yaml (or services/<name>/env.schema.yaml) or remove it",
            "  - variables.LMS_GATEWAY_PORT: 'x' is not an integer",
            "  - secrets.postgres-pasword: not declared in the schema (did you mean 'postgres-password'?); "
            "declare it or remove it",
            "  - deploy.resources.catalgo: no service named 'catalgo' (did you mean 'catalog'?); known: catalog, "
            "enrollment, gateway, gateway-routes, postgres, or 'default' for all",
        ]
    ), message


def test_an_unknown_key_far_from_any_lists_the_known_ones(project: Repo) -> None:
    edit(project, "dev", {"target.zzz": 1})
    assert problems(project, "dev") == (
        "env/dev.yaml: 1 problem:\n  - target.zzz: unknown key; known keys: kind, name, context, host, "
        "endpoint_mode, publish_mode, confirm, registry; fix or remove it"
    )


def test_a_misspelt_environment_is_suggested(project: Repo) -> None:
    assert problems(project, "stagin") == (
        "unknown environment 'stagin' (did you mean 'staging'?); known: dev, production, staging "
        "(one file each in env/)"
    )


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
    assert message.startswith("env/production.yaml: 1 problem:")
    assert "target.host: ${LMSOPS_PRODUCTION_DOCKER_HOST} is not set in the environment" in message


def test_the_schema_itself_is_validated_strictly_and_completely(project: Repo) -> None:
    """A default outside its own choices, a pattern that is not a regular expression, a choice of the
    wrong type, an unknown key, a name declared twice: one report naming each key, every file in it."""
    schema = project.root / "env" / "schema.yaml"
    text = schema.read_text()
    text = text.replace("default: info", "default: verbose")
    text = text.replace("pattern: '^[0-9.]+$'", "pattern: '^[0-9.+$'")
    text = text.replace("    type: integer\n", "    type: integer\n    choices: [80, eighty]\n")
    schema.write_text(text + "secret:\n  x: {description: y, services: [catalog]}\n")
    catalog = project.services / "catalog" / "env.schema.yaml"
    catalog.write_text(
        catalog.read_text() + "variables:\n  LMS_LOG_LEVEL:\n    description: x\n    services: [catalog]\n"
    )
    message = problems(project, "dev")
    assert message == (
        "env/schema.yaml: 4 problems:\n"
        "  - variables.LMS_LOG_LEVEL: default 'verbose' is not one of debug, info, warning, error; change the default\n"
        "  - variables.LMS_GATEWAY_PORT: choice 'eighty' is not an integer; fix the choice or the type\n"
        "  - variables.LMS_GATEWAY_BIND: pattern '^[0-9.+$' is not a valid regular expression (unterminated "
        "character set at position 1); fix it\n"
        "  - secret: unknown key (did you mean 'secrets'?); fix or remove it\n"
        "services/catalog/env.schema.yaml: 1 problem:\n"
        "  - LMS_LOG_LEVEL is already declared in env/schema.yaml; declare it once"
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("type: integer\n    default: '8080'", "default '8080' is not an integer; change the default"),
        ("type: integer\n    pattern: '^[0-9]+$'", "pattern applies to strings only, and this variable is an integer"),
        ("choices: []", "choices is empty; list the allowed values or remove it"),
        ("pattern: '^a+$'\n    default: b", "default 'b' does not match the pattern ^a+$; change the default"),
    ],
)
def test_each_inconsistent_schema_entry_names_its_key(project: Repo, spec: str, expected: str) -> None:
    schema = project.root / "env" / "schema.yaml"
    entry = f"  LMS_EXTRA:\n    description: x\n    services: ['*']\n    {spec}\n"
    schema.write_text(schema.read_text().replace("variables:\n", "variables:\n" + entry, 1))
    assert problems(project, "dev") == f"env/schema.yaml: 1 problem:\n  - variables.LMS_EXTRA: {expected}"


def test_an_env_file_problem_and_a_schema_problem_are_reported_together(project: Repo) -> None:
    edit(project, "dev", {"deploy.timeout": "soon"})
    schema = project.root / "env" / "schema.yaml"
    schema.write_text(schema.read_text().replace("default: info", "default: verbose"))
    message = problems(project, "dev")
    assert message.startswith("env/dev.yaml: 1 problem:\n  - deploy.timeout: Input should be a valid integer")
    assert "\nenv/schema.yaml: 1 problem:\n  - variables.LMS_LOG_LEVEL: default 'verbose' is not one of" in message


# What the registry code (lmsops.releases.registry) and Docker read as a registry address.
ACCEPTED_REGISTRIES = [
    "ghcr.io/acme",
    "ghcr.io/acme/lms",
    "127.0.0.1:5000",
    "localhost:5000",
    "registry.example.com:8443/a-b/c_d",
]


@pytest.mark.parametrize("address", ACCEPTED_REGISTRIES)
def test_registry_addresses_the_schema_accepts_the_registry_code_accepts(project: Repo, address: str) -> None:
    """docs/environments.md recommends ghcr.io/<org>: accepted by the env schema and by the code that
    publishes to it, so no address passes one and fails the other."""
    edit(project, "staging", {"target.registry": address})
    env = load_environment(project, "staging", model_services(project))
    assert env.target.registry == address
    host, port = split_address(address)
    assert host and 0 < port < 65536


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (
            "ghcr.io/<org>",
            "'ghcr.io/<org>' is not a registry address; give HOST[:PORT][/PATH], e.g. 127.0.0.1:5000 or "
            "ghcr.io/my-org (lowercase path)",
        ),
        ("ghcr.io/Acme", "'ghcr.io/Acme': image paths are lowercase; write ghcr.io/acme"),
        (
            "127.0.0.1",
            "'127.0.0.1': a loopback registry needs its port (lmsops runs its own there), e.g. 127.0.0.1:5000",
        ),
        (
            "localhost",
            "'localhost': a loopback registry needs its port (lmsops runs its own there), e.g. localhost:5000",
        ),
        ("reg.example.com:70000", "'reg.example.com:70000': port 70000 is out of range (1-65535)"),
        (
            "acme",
            "'acme': Docker would read 'acme' as a namespace on Docker Hub, not as a registry; begin with the "
            "registry's host name, e.g. ghcr.io/my-org or docker.io/my-org",
        ),
    ],
)
def test_a_registry_address_the_code_would_refuse_is_refused_by_the_schema(
    project: Repo, address: str, expected: str
) -> None:
    edit(project, "staging", {"target.registry": address})
    assert problems(project, "staging") == f"env/staging.yaml: 1 problem:\n  - target.registry: {expected}"
    if address in ("127.0.0.1", "localhost"):
        with pytest.raises(ConfigError):
            split_address(address)  # what the schema refuses here, the code refuses too


def test_cli_config_reports_every_problem_with_exit_2_and_changes_nothing(
    project: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project, "staging", {"target.registry": "ghcr.io/<org>", "deploy.timeout": "soon"})
    before = {path: path.read_bytes() for path in project.root.rglob("*") if path.is_file()}
    monkeypatch.setenv("LMSOPS_ROOT", str(project.root))
    monkeypatch.setenv("PATH", "/nonexistent")  # no docker: validation comes first
    assert main(["config", "staging"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lmsops: error: env/staging.yaml: 2 problems:\n")
    assert "target.registry: 'ghcr.io/<org>' is not a registry address" in err
    assert "deploy.timeout: Input should be a valid integer" in err
    assert "Traceback" not in err
    assert {path: path.read_bytes() for path in project.root.rglob("*") if path.is_file()} == before
