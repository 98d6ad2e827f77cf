"""Reading a Compose project's containers and comparing them with the declared model (dev)."""

from __future__ import annotations

from typing import Any

from lmsops.docker import Docker
from lmsops.drift import (
    Difference,
    Recorder,
    check_environment,
    env_map,
    memory_bytes,
    nano_cpus,
    revision_of,
    secret_values,
)
from lmsops.model import Model

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def compare_compose(docker: Docker, model: Model, revisions: dict[str, str]) -> list[Difference]:
    env = model.env.name
    containers: dict[str, list[dict[str, Any]]] = {}
    for container in docker.inspect_containers(f"{PROJECT_LABEL}={model.project}"):
        service = container["Config"]["Labels"].get(SERVICE_LABEL, "?")
        containers.setdefault(service, []).append(container)
    declared = model.document.get("services", {})
    found: list[Difference] = []
    for service in sorted(set(containers) - set(declared)):
        rec = Recorder(env, service)
        rec.add("presence", "service", "(not declared)", f"{len(containers[service])} container(s)")
        found += rec.found
    secrets = secret_values(model)
    for name, spec in sorted(declared.items()):
        rec = Recorder(env, name)
        running = [c for c in containers.get(name, []) if c["State"].get("Running")]
        if not running:
            rec.add("presence", "service", "running", "not running")
            found += rec.found
            continue
        replicas = int((spec.get("deploy") or {}).get("replicas") or 1)
        rec.check("replicas", "running containers", replicas, len(running))
        for container in running:
            _compare_container(docker, rec, model, spec, container, revisions, secrets)
        found += rec.found
    return found


def _compare_container(
    docker: Docker,
    rec: Recorder,
    model: Model,
    spec: dict[str, Any],
    container: dict[str, Any],
    revisions: dict[str, str],
    secrets: list[str],
) -> None:
    config, host = container["Config"], container["HostConfig"]
    image = str(spec.get("image", ""))
    rec.check("image", "image", image, config.get("Image"))
    rec.check("image", "image id", docker.image_id(image) or "(not on this engine)", container.get("Image"))
    if image in revisions:
        rec.check("image", "revision label", revisions[image], revision_of(docker, str(container.get("Image"))))
    check_environment(rec, env_map(spec.get("environment")), env_map(config.get("Env")), secrets)
    rec.check("security", "user", spec.get("user") or "(image default)", config.get("User") or "(image default)")
    rec.check("security", "read-only root filesystem", bool(spec.get("read_only")), bool(host.get("ReadonlyRootfs")))
    rec.check("security", "capabilities dropped", _caps(spec.get("cap_drop")), _caps(host.get("CapDrop")))
    rec.check("security", "capabilities added", _caps(spec.get("cap_add")), _caps(host.get("CapAdd")))
    limits = ((spec.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    rec.check("resources", "memory limit", memory_bytes(limits.get("memory")), host.get("Memory"))
    rec.check("resources", "cpu limit", nano_cpus(limits.get("cpus")), host.get("NanoCpus"))
    rec.check("resources", "pids limit", limits.get("pids"), host.get("PidsLimit"))
    restart = (host.get("RestartPolicy") or {}).get("Name") or "no"
    rec.check("restart", "restart policy", spec.get("restart") or "no", restart)
    health = container["State"].get("Health") or {}
    rec.check(
        "health", "healthcheck", "defined", "defined" if (config.get("Healthcheck") or {}).get("Test") else "none"
    )
    rec.check("health", "health", "healthy", health.get("Status", "none"))
    networks = {str(n.get("name") or f"{model.project}_{k}") for k, n in _networks(model).items()}
    declared_networks = {networks_name for key in (spec.get("networks") or {}) for networks_name in _net(model, key)}
    rec.check("network", "networks", declared_networks or networks, set(container["NetworkSettings"]["Networks"]))
    rec.check("ports", "published ports", _declared_ports(spec), _running_ports(host.get("PortBindings") or {}))
    labels = spec.get("labels") or {}
    running_labels = config.get("Labels") or {}
    for key, value in sorted(labels.items()):
        rec.check("labels", f"label {key}", value, running_labels.get(key))


def _networks(model: Model) -> dict[str, Any]:
    return {str(k): v or {} for k, v in (model.document.get("networks") or {}).items()}


def _net(model: Model, key: str) -> list[str]:
    spec = _networks(model).get(key, {})
    return [str(spec.get("name") or f"{model.project}_{key}")]


def _caps(values: Any) -> set[str]:
    return {str(v).upper().removeprefix("CAP_") for v in values or []}


def _declared_ports(spec: dict[str, Any]) -> set[str]:
    ports = set()
    for port in spec.get("ports") or []:
        host_ip = port.get("host_ip") or "0.0.0.0"  # noqa: S104 - what Docker reports for "all addresses"
        ports.add(f"{host_ip}:{port.get('published')}->{port.get('target')}/{port.get('protocol', 'tcp')}")
    return ports


def _running_ports(bindings: dict[str, Any]) -> set[str]:
    ports = set()
    for target, entries in bindings.items():
        number, _, protocol = target.partition("/")
        for entry in entries or []:
            host_ip = entry.get("HostIp") or "0.0.0.0"  # noqa: S104
            ports.add(f"{host_ip}:{entry.get('HostPort')}->{number}/{protocol or 'tcp'}")
    return ports
