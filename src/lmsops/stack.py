"""The Compose model of the platform: stacks/compose.yaml plus each service's own fragment.

A service brings its part of every environment in services/<name>/compose.yaml; nothing else
lists services. lmsops fills the ${...} variables: image references, secrets folder, routes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from lmsops.errors import ConfigError
from lmsops.paths import Repo
from lmsops.yamlfile import read_yaml

SHARED = Path("stacks") / "compose.yaml"
FRAGMENT = "compose.yaml"
DEFAULT_SERVICE_PORT = 8000
# Services of the shared file that are infrastructure, not routed by the gateway.
_NOT_ROUTED = {"gateway", "postgres"}
_SECRET_FILE = re.compile(r"^\$\{LMS_SECRETS_DIR[^}]*\}/(?P<name>[a-z0-9][a-z0-9._-]*)$")


def compose_files(repo: Repo) -> list[Path]:
    """The shared file first, then every service fragment in name order."""
    shared = repo.root / SHARED
    if not shared.is_file():
        raise ConfigError(f"{SHARED}: file not found; it holds the network, postgres and the gateway")
    return [shared, *sorted(repo.services.glob(f"*/{FRAGMENT}"))]


def _document(repo: Repo, path: Path) -> dict[str, object]:
    data = read_yaml(path, repo.display(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{repo.display(path)}: a Compose file must be a mapping with a 'services' key")
    return data


def fragment_services(repo: Repo) -> dict[str, dict[str, object]]:
    """Each service's own definition, from its fragment; the fragment must define its service."""
    found: dict[str, dict[str, object]] = {}
    for path in compose_files(repo)[1:]:
        name = path.parent.name
        services = _document(repo, path).get("services")
        definition = services.get(name) if isinstance(services, dict) else None
        if not isinstance(definition, dict):
            raise ConfigError(f"{repo.display(path)}: services.{name} is missing; a fragment defines its own service")
        found[name] = definition
    return found


def service_port(definition: Mapping[str, object]) -> int:
    environment = definition.get("environment")
    if isinstance(environment, dict) and "LMS_PORT" in environment:
        return int(str(environment["LMS_PORT"]))
    return DEFAULT_SERVICE_PORT


def gateway_routes(repo: Repo) -> str:
    """'name=host:port ...' for every service the gateway should route to."""
    routes = [
        f"{name}={name}:{service_port(definition)}"
        for name, definition in fragment_services(repo).items()
        if name not in _NOT_ROUTED
    ]
    return " ".join(routes)


def secret_files(repo: Repo) -> list[str]:
    """Names of the secret files the assembled model reads from ${LMS_SECRETS_DIR}."""
    names: set[str] = set()
    for path in compose_files(repo):
        declared = _document(repo, path).get("secrets") or {}
        if not isinstance(declared, dict):
            raise ConfigError(f"{repo.display(path)}: 'secrets' must be a mapping")
        for key, spec in declared.items():
            file = spec.get("file") if isinstance(spec, dict) else None
            match = _SECRET_FILE.match(str(file)) if file else None
            if match is None:
                raise ConfigError(
                    f'{repo.display(path)}: secrets.{key}.file must be "${{LMS_SECRETS_DIR}}/<name>" '
                    "so every environment can supply it"
                )
            names.add(match["name"])
    return sorted(names)


def generate_secrets(folder: Path, names: Iterable[str]) -> list[str]:
    """Create missing secret files with random values (local environments only); return the new ones."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # the files themselves must be readable by the containers' own users
    created = []
    for name in names:
        path = folder / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(24) + "\n")
            path.chmod(0o644)
            created.append(name)
    return created


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for key, value in sorted(values.items()):
        if "\n" in value:
            raise ConfigError(f"{key}: a value for Compose may not contain a newline")
        lines.append(f"{key}={value}")
    path.write_text("\n".join(lines) + "\n")
    return path
