"""The resolved, declared model of one environment: what `nox -s config -- <env>` prints and
what `nox -s deploy -- <env>` applies.

Files, in order: stacks/compose.yaml, every services/<name>/compose.yaml, the target kind's
overlay (stacks/swarm.yaml), the environment's overlay (stacks/<env>.yaml), and one file lmsops
renders from env/<env>.yaml (per-service deploy settings). `docker compose config` merges and
interpolates them; for Swarm the result is then made deployable by `docker stack deploy`.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmsops.core import gitinfo
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.yamlfile import dump_yaml, parse_yaml, read_yaml
from lmsops.environments.config import Environment, known_environments, load_environment, secret_value
from lmsops.environments.stack import (
    EXTENSION,
    compose_files,
    database_secrets,
    declared_replicas,
    deployed_images,
    gateway_routes,
    generate_secrets,
    image_variable,
    secret_files,
    write_env_file,
)
from lmsops.images.plan import PlannedImage, plan_images
from lmsops.images.versions import load_versions

# Every Swarm service carries the commit it was deployed from and a hash of the resolved model.
COMMIT_LABEL = "org.lmsops.release.commit"
CONFIG_LABEL = "org.lmsops.release.config"
SERVICE_DEFAULTS = "x-lmsops-service"
STATELESS_DEFAULTS = "x-lmsops-stateless"
DATABASE_SERVER = "postgres"
STATEFUL = {DATABASE_SERVER}


@dataclass(frozen=True)
class Model:
    env: Environment
    files: list[Path]
    env_file: Path
    images: list[PlannedImage]
    document: dict[str, Any]
    text: str  # the resolved model as YAML: byte-identical for identical inputs
    secrets_dir: Path | None = None  # this environment's secret files (for provisioning databases)

    @property
    def project(self) -> str:
        return self.env.target.name

    @property
    def services(self) -> list[str]:
        return sorted(self.document.get("services", {}))

    def path(self, repo: Repo) -> Path:
        """Where the resolved model is written for deploy."""
        return work_dir(repo, self.env) / "model.yaml"


def work_dir(repo: Repo, env: Environment) -> Path:
    """Rendered files of one deployment target (keyed by its name: a test run has its own)."""
    return repo.work / "env" / env.target.name


def model_services(repo: Repo) -> set[str]:
    names: set[str] = set()
    for path in compose_files(repo):
        data = read_yaml(path, repo.display(path))
        services = data.get("services") if isinstance(data, dict) else None
        if isinstance(services, dict):
            names |= set(services)
    return names


def overlays(repo: Repo, env: Environment) -> list[Path]:
    kind = repo.root / "stacks" / f"{env.target.kind}.yaml"
    own = repo.root / "stacks" / f"{env.name}.yaml"
    return [path for path in (kind, own) if path.is_file()]


def resolve(
    repo: Repo,
    docker: Docker,
    env_name: str,
    pinned: Mapping[str, str] | None = None,
    plan: list[PlannedImage] | None = None,
) -> Model:
    """Validate everything about env_name and return its resolved model; nothing is changed.
    pinned: service -> the image reference it runs instead of this tree's (promotion: the source's digests).
    plan: the image plan the command already computed (lmsops.images.context)."""
    services = model_services(repo)
    env = load_environment(repo, env_name, services)
    images = plan if plan is not None else plan_images(repo, load_versions(repo))
    work = work_dir(repo, env)
    secrets_dir = _secrets(repo, env, work)
    files = [*compose_files(repo), *overlays(repo, env)]
    defaults = _render_defaults(repo, env, files, services, work / "defaults.yaml")
    rendered = _render_service_settings(repo, env, services, work / "services.yaml")
    references = {image.name: image.reference for image in images}
    if env.target.registry:  # deploys from a registry run the digests it holds, never a tag
        references |= registry_references(repo, docker, env.target.registry, images)
    references |= dict(pinned or {})
    values = (
        env.values
        | {image_variable(name): reference for name, reference in references.items()}
        | {
            "LMS_ENV": env_name,
            "LMS_SECRETS_DIR": str(secrets_dir),
            "LMS_GATEWAY_ROUTES": gateway_routes(repo),
            "LMS_ENDPOINT_MODE": env.target.endpoint_mode,
            "LMS_PUBLISH_MODE": env.target.publish_mode,
        }
    )
    env_file = write_env_file(work / "compose.env", values)
    all_files = [defaults, *files, rendered]
    docker.require_compose()
    result = docker.compose(env.target.name, all_files, env_file, "config", "--no-path-resolution", check=False)
    if result.returncode != 0:
        raise ConfigError(f"the Compose files of {env_name} do not resolve: {result.stderr.strip()}")
    document = parse_yaml(result.stdout)
    if env.target.registry:
        _require_digests(env, document, set((pinned or {}).values()))
    if env.target.kind == "swarm":
        document = _for_swarm(env, document, secrets_dir)
    document = {key: value for key, value in document.items() if not key.startswith("x-")}
    for service in (document.get("services") or {}).values():
        service.pop(EXTENSION, None)  # read by lmsops (declared_replicas), not for the engine
    if env.target.kind == "swarm":
        stamp = _release_labels(repo, document)
        for service in document["services"].values():
            service.setdefault("deploy", {}).setdefault("labels", {}).update(stamp)
    text = dump_yaml(document)
    return Model(env, all_files, env_file, images, document, text, secrets_dir)


def registry_references(repo: Repo, docker: Docker, registry: str, images: list[PlannedImage]) -> dict[str, str]:
    """For each image the Compose files run, its digest reference in registry, asked of the registry
    itself (the same from every machine: no local record). An image the registry lacks is left out
    (the model then refuses it, naming it)."""
    found: dict[str, str] = {}
    deployed = deployed_images(repo, [image.name for image in images])
    for image in images:
        if image.name not in deployed:
            continue
        remote = f"{registry}/{image.reference}"
        digest = docker.registry_digest(remote)
        if digest is not None:
            found[image.name] = f"{remote.rsplit(':', 1)[0]}@{digest}"
    return found


def _release_labels(repo: Repo, document: dict[str, Any]) -> dict[str, str]:
    """This commit (-dirty with uncommitted changes) and a hash of the model without these labels."""
    head = gitinfo.git(repo.root, "rev-parse", "HEAD", check=False).stdout.strip() or "uncommitted"
    dirty = bool(gitinfo.dirty_files(repo.root))
    config = hashlib.sha256(dump_yaml(document).encode()).hexdigest()[:12]
    return {COMMIT_LABEL: head + ("-dirty" if dirty else ""), CONFIG_LABEL: config}


def _require_digests(env: Environment, document: dict[str, Any], allowed: set[str]) -> None:
    for name, service in sorted((document.get("services") or {}).items()):
        image = str(service.get("image", ""))
        if "@sha256:" not in image and image not in allowed:
            raise ConfigError(
                f"{env.name} deploys from {env.target.registry} by digest, but {name}'s image {image} is not "
                f"published there; run `nox -s publish` (deploy does it too)"
            )


def read_secrets(repo: Repo, env: Environment) -> dict[str, str]:
    """Every secret the Compose files use, read from its source (none for an environment that
    generates them); one ConfigError naming every secret that cannot be read. Nothing is written:
    deploy calls it before it builds or pushes anything."""
    if env.generates_secrets:
        return {}
    problems: list[str] = []
    values: dict[str, str] = {}
    for name in secret_files(repo):
        try:
            values[name] = secret_value(env, name)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return values


def _secrets(repo: Repo, env: Environment, work: Path) -> Path:
    """The folder of this environment's secret files: generated (dev) or read from their sources."""
    names = secret_files(repo)
    undeclared = [name for name in names if name not in env.schema.secrets]
    if undeclared:
        raise ConfigError(
            f"secret {undeclared[0]!r} is used by the Compose files but not declared in env/schema.yaml "
            "(or a services/<name>/env.schema.yaml); declare it"
        )
    if env.generates_secrets:
        folder = repo.work / "secrets" / env.name
        generate_secrets(folder, names)
        return folder
    folder = work / "secrets"
    values = read_secrets(repo, env)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name, value in values.items():
        path = folder / name
        path.write_text(value + "\n")
        path.chmod(0o600)  # read by the docker CLI only; Swarm stores the value itself
    return folder


def _render(repo: Repo, env: Environment, name: str, services: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Rendered by lmsops ({name}) from env/{env.name}.yaml and the overlays; do not edit.\n"
    out.write_text(header + dump_yaml({"services": services}))
    return out


def _render_defaults(repo: Repo, env: Environment, files: list[Path], services: set[str], out: Path) -> Path:
    """The overlays' x-lmsops-service (every service) and x-lmsops-stateless (every stateless one), for
    each service of the model. This file comes first: what a service declares itself wins."""
    common: dict[str, Any] = {}
    stateless: dict[str, Any] = {}
    for path in files:
        data = read_yaml(path, repo.display(path))
        if isinstance(data, dict):
            common = _merge(common, data.get(SERVICE_DEFAULTS) or {})
            stateless = _merge(stateless, data.get(STATELESS_DEFAULTS) or {})
    rendered = {name: common if name in STATEFUL else _merge(common, stateless) for name in sorted(services)}
    return _render(repo, env, "defaults", {k: v for k, v in rendered.items() if v}, out)


def _render_service_settings(repo: Repo, env: Environment, services: set[str], out: Path) -> Path:
    """What env/<env>.yaml says per service (replicas, resources, endpoint mode; dev source mounts).
    This file comes last: the environment's own settings win."""
    rendered: dict[str, Any] = {}
    declared = declared_replicas(repo, known_environments(repo))
    for name in sorted(services):
        settings: dict[str, Any] = {}
        if env.target.kind == "swarm":
            settings["deploy"] = _deploy(env, name, declared.get(name, {}).get(env.name))
        if env.file.source_mounts and env.target.kind == "compose" and (repo.services / name / "app").is_dir():
            settings["volumes"] = [f"{repo.services / name / 'app'}:/srv/app:ro"]
        if name == DATABASE_SERVER and env.target.kind == "compose":
            # Compose: PostgreSQL provisions every service's role and database at start from these
            # (lmsops.targets.databases says why; Swarm provisions them live instead).
            settings["secrets"] = sorted(database_secrets(secret_files(repo)).values())
        if settings:
            rendered[name] = settings
    return _render(repo, env, "per-service settings", rendered, out)


def _deploy(env: Environment, name: str, service_replicas: int | None) -> dict[str, Any]:
    """Replicas: env/<env>.yaml's entry for the service, else the service's own x-lmsops.replicas,
    else the environment's default."""
    deploy_config = env.file.deploy
    fallback = service_replicas if service_replicas is not None else deploy_config.replicas.get("default", 1)
    replicas = deploy_config.replicas.get(name, fallback)
    resources = deploy_config.resources.get(name) or deploy_config.resources.get("default")
    deploy: dict[str, Any] = {"replicas": replicas, "endpoint_mode": env.target.endpoint_mode}
    if name not in STATEFUL:
        deploy["update_config"] = {"monitor": deploy_config.monitor}
        deploy["rollback_config"] = {"monitor": deploy_config.monitor}
    if resources is not None:
        limits = {"cpus": _cpus(resources.cpus), "memory": resources.memory, "pids": resources.pids}
        reservations = {"cpus": _cpus(resources.reserve_cpus), "memory": resources.reserve_memory}
        deploy["resources"] = {
            "limits": {k: v for k, v in limits.items() if v is not None},
            "reservations": {k: v for k, v in reservations.items() if v is not None},
        }
    return deploy


def _cpus(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


STACK_FILE_VERSION = "3.9"


def _for_swarm(env: Environment, document: dict[str, Any], secrets_dir: Path) -> dict[str, Any]:
    """What `docker stack deploy` needs: no Compose-only keys, stack-scoped names, versioned secrets."""
    document = copy.deepcopy(document)
    document.pop("name", None)
    for section in ("networks", "volumes"):
        for spec in (document.get(section) or {}).values():
            if isinstance(spec, dict):
                spec.pop("name", None)  # the stack prefixes its own name
    for service in (document.get("services") or {}).values():
        for key in ("depends_on", "restart", "container_name", "security_opt"):
            service.pop(key, None)  # Compose-only (Swarm drops security_opt: moby/moby#41371)
        uid, _, gid = str(service.get("user", "")).partition(":")
        for secret in service.get("secrets", []):
            # Readable by the service's own user only (Compose cannot do this for file secrets).
            if uid.isdigit():
                secret.update({"uid": uid, "gid": gid or uid, "mode": 0o400})
        for port in service.get("ports", []):
            for key in ("published", "target"):
                if isinstance(port, dict) and key in port:
                    port[key] = int(port[key])  # the stack loader wants numbers
        resources = service.get("deploy", {}).get("resources", {})
        for part in resources.values():
            if isinstance(part, dict) and "cpus" in part:
                part["cpus"] = f"{float(part['cpus']):g}"  # the stack loader wants a string
        if env.target.publish_mode == "host" and any(
            isinstance(port, dict) and port.get("mode") == "host" for port in service.get("ports", [])
        ):
            service.setdefault("deploy", {}).setdefault("update_config", {})["order"] = "stop-first"
            service["deploy"].setdefault("rollback_config", {})["order"] = "stop-first"
    # Swarm secrets are immutable: a changed value gets a new name (content hash); lmsops removes
    # versions no longer used after a successful deploy.
    for key, spec in (document.get("secrets") or {}).items():
        content = (secrets_dir / key).read_bytes() if (secrets_dir / key).is_file() else b""
        digest = hashlib.sha256(content).hexdigest()[:10]
        spec["name"] = f"{env.target.name}_{key}_{digest}"
    # The stack loader of docker CLIs before 25 (Debian 12's docker.io 20.10) reads a file without
    # `version` as Compose file format 1.0 and refuses it; 3.9 is the newest they know, and later CLIs
    # read the same file alike (Compose v2 never reads this file: it is the Swarm rendering only).
    return {"version": STACK_FILE_VERSION, **document}
