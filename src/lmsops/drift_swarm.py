"""Reading a Swarm stack's services and tasks and comparing them with the declared model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lmsops.docker import Docker
from lmsops.drift import (
    Difference,
    Recorder,
    check_environment,
    duration_ns,
    env_map,
    memory_bytes,
    nano_cpus,
    revision_of,
    secret_values,
)
from lmsops.errors import CommandError
from lmsops.model import COMMIT_LABEL, CONFIG_LABEL, Model

RELEASE_LABELS = (COMMIT_LABEL, CONFIG_LABEL)

_UPDATE_FIELDS: dict[str, tuple[str, Callable[[Any], object]]] = {
    "parallelism": ("Parallelism", int),
    "delay": ("Delay", duration_ns),
    "failure_action": ("FailureAction", str),
    "monitor": ("Monitor", duration_ns),
    "max_failure_ratio": ("MaxFailureRatio", float),
    "order": ("Order", str),
}


def compare_swarm(
    docker: Docker, model: Model, revisions: dict[str, str], images: Docker | None = None
) -> list[Difference]:
    """images: the engine the images were built and pushed from; on a multi-node swarm the manager
    need not hold an image whose tasks run on other nodes (a digest names the same image there)."""
    env, stack = model.env.name, model.project
    services = {str(s["Spec"]["Name"]).removeprefix(f"{stack}_"): s for s in docker.stack_services(stack)}
    declared = model.document.get("services", {})
    found: list[Difference] = []
    for name in sorted(set(services) - set(declared)):
        rec = Recorder(env, name)
        rec.add("presence", "service", "(not declared)", "running in the stack")
        found += rec.found
    network_ids = {n["Target"] for s in services.values() for n in s["Spec"]["TaskTemplate"].get("Networks") or []}
    network_names = docker.network_names(sorted(network_ids))
    secrets = secret_values(model)
    for name, spec in sorted(declared.items()):
        rec = Recorder(env, name)
        service = services.get(name)
        if service is None:
            rec.add("presence", "service", "running", "not in the stack")
        else:
            _compare_service(docker, rec, model, spec, service, revisions, secrets, network_names, images or docker)
        found += rec.found
    return found


def _compare_service(
    docker: Docker,
    rec: Recorder,
    model: Model,
    spec: dict[str, Any],
    service: dict[str, Any],
    revisions: dict[str, str],
    secrets: list[str],
    network_names: dict[str, str],
    images: Docker,
) -> None:
    stack = model.project
    template = service["Spec"]["TaskTemplate"]
    container = template["ContainerSpec"]
    deploy = spec.get("deploy") or {}
    image = str(spec.get("image", ""))
    running_image = str(container.get("Image", ""))
    if "@" not in image:  # declared by tag: Swarm pins a digest to it, which is no difference
        running_image = running_image.split("@", 1)[0]
    rec.check("image", "image", image, running_image)
    tasks = [
        t for t in docker.service_tasks(str(service["Spec"]["Name"]))
        if t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "running"
    ]  # fmt: skip
    local_ids = {_task_image_id(docker, t) for t in tasks} - {""}
    declared_id = docker.image_id(image) or "(not on this engine)"
    for image_id in sorted(local_ids):
        rec.check("image", "image id", declared_id, image_id)
    if image in revisions:
        rec.check("image", "revision label", revisions[image], revision_of(docker, running_image))
    check_environment(rec, env_map(spec.get("environment")), env_map(container.get("Env")), secrets)
    rec.check("security", "user", spec.get("user") or "(image default)", container.get("User") or "(image default)")
    rec.check("security", "read-only root filesystem", bool(spec.get("read_only")), bool(container.get("ReadOnly")))
    rec.check("security", "capabilities dropped", _caps(spec.get("cap_drop")), _caps(container.get("CapabilityDrop")))
    rec.check("security", "capabilities added", _caps(spec.get("cap_add")), _caps(container.get("CapabilityAdd")))
    resources = deploy.get("resources") or {}
    limits, reservations = resources.get("limits") or {}, resources.get("reservations") or {}
    running_limits = (template.get("Resources") or {}).get("Limits") or {}
    running_reservations = (template.get("Resources") or {}).get("Reservations") or {}
    rec.check("resources", "memory limit", memory_bytes(limits.get("memory")), running_limits.get("MemoryBytes"))
    rec.check("resources", "cpu limit", nano_cpus(limits.get("cpus")), running_limits.get("NanoCPUs"))
    rec.check("resources", "pids limit", limits.get("pids"), running_limits.get("Pids"))
    rec.check(
        "resources",
        "memory reservation",
        memory_bytes(reservations.get("memory")),
        running_reservations.get("MemoryBytes"),
    )
    rec.check("resources", "cpu reservation", nano_cpus(reservations.get("cpus")), running_reservations.get("NanoCPUs"))
    policy, running_policy = deploy.get("restart_policy") or {}, template.get("RestartPolicy") or {}
    rec.check("restart", "restart condition", policy.get("condition", "any"), running_policy.get("Condition"))
    rec.check("restart", "restart delay", duration_ns(policy.get("delay")), running_policy.get("Delay"))
    rec.check("restart", "restart window", duration_ns(policy.get("window")), running_policy.get("Window"))
    replicas = int(deploy.get("replicas", 1))
    desired = service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas")
    rec.check("replicas", "desired replicas", replicas, desired)
    rec.check("replicas", "running tasks", replicas, len(tasks))
    rec.check(
        "health", "healthcheck", "defined", "defined" if _has_healthcheck(images, container, running_image) else "none"
    )
    unhealthy = [t["ID"][:12] for t in tasks if _task_health(docker, t) not in {"healthy", ""}]
    rec.check("health", "unhealthy tasks", [], unhealthy)
    declared_networks = {f"{stack}_{key}" for key in (spec.get("networks") or {})}
    running_networks = {network_names.get(n["Target"], n["Target"]) for n in template.get("Networks") or []}
    rec.check("network", "networks", declared_networks, running_networks)
    endpoint = service["Spec"].get("EndpointSpec") or {}
    rec.check("ports", "endpoint mode", deploy.get("endpoint_mode", "vip"), endpoint.get("Mode", "vip"))
    rec.check("ports", "published ports", _declared_ports(spec), _running_ports(endpoint.get("Ports") or []))
    for section, key in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
        declared_config, running_config = deploy.get(section) or {}, service["Spec"].get(key) or {}
        for field, (running_key, convert) in _UPDATE_FIELDS.items():
            if field in declared_config:
                rec.check(
                    "update", f"{section}.{field}", convert(declared_config[field]), running_config.get(running_key)
                )
    running_labels = container.get("Labels") or {}
    for key, value in sorted((spec.get("labels") or {}).items()):
        rec.check("labels", f"label {key}", value, running_labels.get(key))
    service_labels = service["Spec"].get("Labels") or {}
    for key, value in sorted((deploy.get("labels") or {}).items()):
        if key.startswith(RELEASE_LABELS):
            continue  # which commit deployed it is history (nox -s history), not a declaration
        rec.check("labels", f"service label {key}", value, service_labels.get(key))
    declared_secrets = {_secret_line(s, model) for s in spec.get("secrets") or []}
    running_secrets = {
        f"{s['File']['Name']} {s['File']['UID']}:{s['File']['GID']} {s['File']['Mode']:o}"
        for s in container.get("Secrets") or []
    }
    rec.check("secrets", "secret files", declared_secrets, running_secrets)
    # Which version of each secret: its name carries a hash of the value the environment supplies
    # now, so a rotated value not yet deployed shows here (as names, never as values).
    versions = model.document.get("secrets") or {}
    declared_versions = {
        str(s.get("target") or s.get("source")): str((versions.get(s.get("source")) or {}).get("name"))
        for s in spec.get("secrets") or []
    }
    running_versions = {str(s["File"]["Name"]): str(s.get("SecretName")) for s in container.get("Secrets") or []}
    rec.check("secrets", "secret versions", declared_versions, running_versions)


def _secret_line(secret: dict[str, Any], model: Model) -> str:
    target = secret.get("target") or f"/run/secrets/{secret.get('source')}"
    mode = int(secret.get("mode", 0o444))
    return f"{target} {secret.get('uid', '0')}:{secret.get('gid', '0')} {mode:o}"


def _caps(values: Any) -> set[str]:
    return {str(v).upper().removeprefix("CAP_") for v in values or []}


def _declared_ports(spec: dict[str, Any]) -> set[str]:
    return {
        f"{p.get('published')}->{p.get('target')}/{p.get('protocol', 'tcp')} {p.get('mode', 'ingress')}"
        for p in spec.get("ports") or []
    }


def _running_ports(ports: list[dict[str, Any]]) -> set[str]:
    return {
        f"{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')} {p.get('PublishMode', 'ingress')}"
        for p in ports
    }


def _task_container(task: dict[str, Any]) -> str:
    return str(task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID", ""))


def _task_image_id(docker: Docker, task: dict[str, Any]) -> str:
    """The image id a task's container runs, when that container is on this engine."""
    container = _task_container(task)
    if not container:
        return ""
    try:
        return str(docker.container_inspect(container).get("Image", ""))
    except CommandError:  # a container on another node cannot be inspected from here
        return ""


def _task_health(docker: Docker, task: dict[str, Any]) -> str:
    container = _task_container(task)
    if not container:
        return ""
    try:
        state = docker.container_inspect(container).get("State")
    except CommandError:  # on another node: Swarm's "running" already means healthy
        return ""
    health = state.get("Health") if isinstance(state, dict) else None
    return str(health.get("Status", "")) if isinstance(health, dict) else ""


def _has_healthcheck(docker: Docker, container: dict[str, Any], image: str) -> bool:
    if (container.get("Healthcheck") or {}).get("Test"):
        return True
    doc = docker.image_inspect(image)
    config = doc.get("Config") if doc else None
    health = config.get("Healthcheck") if isinstance(config, dict) else None
    return bool(health and health.get("Test") and health["Test"] != ["NONE"])
