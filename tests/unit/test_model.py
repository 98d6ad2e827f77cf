"""Assembling an environment's model: rendered per-service settings, Swarm adjustments, the guard."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.deploy.apply import guard
from lmsops.environments.config import load_environment
from lmsops.environments.model import (
    _for_swarm,
    _merge,
    _render_defaults,
    _render_service_settings,
    model_services,
    overlays,
)
from lmsops.environments.stack import compose_files


def render(repo: Repo, env_name: str, tmp_path: Path) -> dict[str, Any]:
    """The two rendered files merged, as Compose merges them (defaults first, environment last)."""
    env = load_environment(repo, env_name, model_services(repo))
    files = [*compose_files(repo), *overlays(repo, env)]
    first = _render_defaults(repo, env, files, model_services(repo), tmp_path / "defaults.yaml")
    last = _render_service_settings(repo, env, model_services(repo), tmp_path / "services.yaml")
    merged: dict[str, Any] = _merge(
        yaml.safe_load(first.read_text())["services"], yaml.safe_load(last.read_text())["services"]
    )
    return merged


def test_swarm_settings_come_from_the_environment_and_reach_every_service(project: Repo, tmp_path: Path) -> None:
    services = render(project, "staging", tmp_path)
    assert set(services) == {"catalog", "enrollment", "gateway", "gateway-routes", "postgres"}
    # the route table's holder: small, and updated start-first like every stateless service
    routes = services["gateway-routes"]["deploy"]
    assert routes["replicas"] == 1 and routes["update_config"]["order"] == "start-first"
    assert routes["resources"]["limits"] == {"cpus": "0.1", "memory": "32M", "pids": 64}
    catalog = services["catalog"]["deploy"]
    assert catalog["replicas"] == 2 and catalog["endpoint_mode"] == "dnsrr"
    assert catalog["update_config"]["order"] == "start-first"
    assert catalog["update_config"]["failure_action"] == "rollback"
    assert catalog["update_config"]["monitor"] == "15s"
    assert catalog["resources"]["limits"] == {"cpus": "0.5", "memory": "256M", "pids": 256}
    # stateful: one replica, and none of the start-first defaults (two postgres on one volume)
    assert "update_config" not in services["postgres"]["deploy"]
    assert services["postgres"]["deploy"]["replicas"] == 1


def test_a_new_service_gets_the_defaults_without_any_edit(project: Repo, tmp_path: Path) -> None:
    fragment = project.services / "grades" / "compose.yaml"
    fragment.parent.mkdir()
    fragment.write_text("services:\n  grades:\n    image: x\n")
    services = render(project, "staging", tmp_path)
    assert services["grades"]["deploy"]["replicas"] == 2
    dev = render(project, "dev", tmp_path)["grades"]
    assert (dev["restart"], dev["read_only"], dev["cap_drop"], dev["user"]) == (
        "unless-stopped",
        True,
        ["ALL"],
        "10001:10001",
    )


def test_swarm_model_has_versioned_secrets_and_numbers_where_the_stack_loader_wants_them(
    project: Repo,
    tmp_path: Path,
) -> None:
    env = load_environment(project, "staging", model_services(project))
    (tmp_path / "db-password").write_text("one")
    document = {
        "name": "x",
        "networks": {"backend": {"name": "x_backend"}},
        "secrets": {"db-password": {"file": str(tmp_path / "db-password"), "name": "x_db-password"}},
        "services": {
            "gateway": {
                "depends_on": {"postgres": {}},
                "ports": [{"target": "8080", "published": "18081", "mode": "host"}],
                "deploy": {"resources": {"limits": {"cpus": 0.5}}},
            }
        },
    }
    first = _for_swarm(env, document, tmp_path)
    assert next(iter(first.items())) == ("version", "3.9")  # what Debian 12's docker CLI 20.10 needs to read it
    assert "name" not in first and "name" not in first["networks"]["backend"]
    gateway = first["services"]["gateway"]
    assert "depends_on" not in gateway
    assert gateway["ports"][0]["published"] == 18081
    assert gateway["deploy"]["resources"]["limits"]["cpus"] == "0.5"
    assert gateway["deploy"]["update_config"]["order"] == "stop-first"  # host port: never two tasks
    (tmp_path / "db-password").write_text("two")
    second = _for_swarm(env, document, tmp_path)
    names = first["secrets"]["db-password"]["name"], second["secrets"]["db-password"]["name"]
    assert names[0].startswith("lms-staging_db-password_") and names[0] != names[1]


def test_production_needs_yes_and_a_clean_tree(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    repo = Repo(tmp_path)
    production = SimpleNamespace(name="production", target=SimpleNamespace(confirm=True))
    with pytest.raises(ConfigError, match="needs an explicit confirmation: nox -s deploy -- production --yes"):
        guard(repo, production, yes=False)  # type: ignore[arg-type]
    (tmp_path / "local-change.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"refusing to deploy production from a dirty git tree \(local-change.txt\)"):
        guard(repo, production, yes=True)  # type: ignore[arg-type]
    staging = SimpleNamespace(name="staging", target=SimpleNamespace(confirm=False))
    guard(repo, staging, yes=False)  # type: ignore[arg-type]


def test_postgres_holds_the_database_passwords_on_compose_only(project: Repo, tmp_path: Path) -> None:
    """Compose (dev): PostgreSQL provisions at start, so a plain `docker compose up` works. Swarm:
    lmsops provisions on the running server, and PostgreSQL never restarts for a new service."""
    dev = render(project, "dev", tmp_path)
    assert dev["postgres"]["secrets"] == ["catalog-db-password", "enrollment-db-password"]
    staging = render(project, "staging", tmp_path)
    assert "secrets" not in staging["postgres"]
