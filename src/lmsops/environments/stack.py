"""The Compose model of the platform: stacks/compose.yaml plus each service's own fragment.

A service brings its part of every environment in services/<name>/compose.yaml; nothing else
lists services. lmsops fills the ${...} variables: image references, secrets folder, routes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.yamlfile import read_yaml

SHARED = Path("stacks") / "compose.yaml"
FRAGMENT = "compose.yaml"
# A service's own settings for lmsops inside its fragment (Compose ignores x- keys; lmsops removes it).
EXTENSION = "x-lmsops"
DEFAULT_SERVICE_PORT = 8000
# Services of the shared file that are infrastructure, not routed by the gateway.
_NOT_ROUTED = {"gateway", "gateway-routes", "postgres"}
# A service's database password: `<service>-db-password` (its role and database are `<service>`).
_DATABASE_SECRET = re.compile(r"^(?P<service>[a-z][a-z0-9-]*)-db-password$")
_SECRET_FILE = re.compile(r"^\$\{LMS_SECRETS_DIR[^}]*\}/(?P<name>[a-z0-9][a-z0-9._-]*)$")


def image_variable(name: str) -> str:
    """The variable the Compose files name an image by: LMS_<NAME>_IMAGE."""
    return f"LMS_{name.upper().replace('-', '_')}_IMAGE"


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


def declared_replicas(repo: Repo, environments: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per service, the replicas its fragment declares per Swarm environment (x-lmsops.replicas)."""
    known = set(environments)
    declared: dict[str, dict[str, int]] = {}
    for name, definition in fragment_services(repo).items():
        where = f"services/{name}/{FRAGMENT}: services.{name}.{EXTENSION}"
        extension = definition.get(EXTENSION) or {}
        if not isinstance(extension, dict) or set(extension) - {"replicas"}:
            raise ConfigError(f"{where}: only 'replicas: {{<environment>: <count>}}' is understood here")
        replicas = extension.get("replicas") or {}
        if not isinstance(replicas, dict):
            raise ConfigError(f"{where}.replicas must map environment names to counts, e.g. {{staging: 2}}")
        for env, count in replicas.items():
            if env not in known:
                raise ConfigError(f"{where}.replicas.{env}: no such environment; known: {', '.join(sorted(known))}")
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100:
                raise ConfigError(f"{where}.replicas.{env}: {count!r} is not a count of replicas (0-100)")
        declared[name] = {str(env): int(count) for env, count in replicas.items()}
    return declared


def service_port(definition: Mapping[str, object], where: str = "") -> int:
    environment = definition.get("environment")
    if isinstance(environment, dict) and "LMS_PORT" in environment:
        value = str(environment["LMS_PORT"])
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise ConfigError(f"{where or 'a Compose fragment'}: LMS_PORT {value!r} is not a port number (1-65535)")
        return int(value)
    return DEFAULT_SERVICE_PORT


def service_ports(repo: Repo) -> dict[str, int]:
    """Each service's port; a port set in two fragments, or a .port-<N> file that disagrees, is refused."""
    ports: dict[str, int] = {}
    owners: dict[int, str] = {}
    for name, definition in fragment_services(repo).items():
        port = service_port(definition, f"services/{name}/{FRAGMENT}")
        markers = sorted(path.name for path in (repo.services / name).glob(".port-*"))
        wrong = [marker for marker in markers if marker != f".port-{port}"]
        if wrong:
            raise ConfigError(
                f"services/{name}/{wrong[0]}: the service listens on {port} (LMS_PORT in services/{name}/"
                f"{FRAGMENT}); keep one file named .port-{port} so the service template sees the port as taken"
            )
        environment = definition.get("environment")
        explicit = isinstance(environment, dict) and "LMS_PORT" in environment
        if explicit and port in owners:
            raise ConfigError(
                f"services/{name}/{FRAGMENT}: LMS_PORT {port} is also the port of {owners[port]}; "
                "give each service its own port"
            )
        if explicit:
            owners[port] = name
        ports[name] = port
    return ports


def gateway_routes(repo: Repo) -> str:
    """'name=host:port ...' for every service the gateway should route to."""
    routes = [f"{name}={name}:{port}" for name, port in service_ports(repo).items() if name not in _NOT_ROUTED]
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


def database_secrets(names: Iterable[str]) -> dict[str, str]:
    """service -> its database password secret, for the secrets among names that are one."""
    matches = (_DATABASE_SECRET.match(str(name)) for name in names)
    return {match["service"]: match.group(0) for match in matches if match}


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


def deployed_images(repo: Repo, names: Iterable[str]) -> set[str]:
    """Of the image names given, those the Compose files and overlays run (`${LMS_<NAME>_IMAGE...}`):
    what an environment needs in its registry. Bases that only serve to build (python, python-build)
    and the tools' own images are not among them."""
    files = [*compose_files(repo), *sorted((repo.root / "stacks").glob("*.yaml"))]
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    return {name for name in names if re.search(r"\$\{" + image_variable(name) + r"\b", text)}
