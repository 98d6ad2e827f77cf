"""Compose drift: every container's whole configuration against what `docker compose` would create.

The declared configuration is the body `docker compose create` sends for each container of the
model (lmsops.drift.render), completed the way the engine completes it: the image's own configuration
merged in (moby's daemon/commit.go `merge`), and the engine's defaults for what is left unset.
RULES is the one list of what may differ, each with its reason; every other field of Config,
HostConfig (what `docker update` changes at run time included) and the network endpoints is compared.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.progress import count
from lmsops.drift.compare import (
    Difference,
    Recorder,
    check_no_secret_in_plain_variables,
    env_map,
    model_file,
    revision_of,
    secret_values,
)
from lmsops.drift.render import render_compose
from lmsops.drift.specdiff import Rule, compare, env_as_map, normalise, sorted_by_target
from lmsops.environments.model import Model

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"

# moby's defaults for an unprivileged container (oci/defaults.go), set when nothing else is asked.
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
]  # fmt: skip
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
_ASSIGNED_AT_START = (
    "NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address",
    "GlobalIPv6PrefixLen", "MacAddress", "DNSNames", "GwPriority",
)  # fmt: skip


def _without_short_id(value: Any, context: Mapping[str, Any]) -> Any:
    return [alias for alias in value or [] if alias != context["short_id"]]


RULES: tuple[Rule, ...] = (
    Rule("Config.Labels[com.docker.compose.project.config_files]", "ignore",
         "where the deploying clone keeps its rendered model: another clone deploying the same model "
         "writes another path; the model's content is compared"),
    Rule("Config.Labels[com.docker.compose.project.working_dir]", "ignore",
         "the folder of the deploying clone's rendered model (see config_files)"),
    Rule("Config.Labels[com.docker.compose.version]", "ignore",
         "the version of the Compose tool that created the container: tool metadata, no configuration"),
    Rule("Config.Labels[com.docker.compose.replace]", "ignore",
         "Compose notes which container a recreated one replaced: history, no configuration"),
    Rule("Config.Env", "reshape",
         "compared variable by variable, in any order (Compose sends them in no fixed order)",
         transform=env_as_map),
    Rule("HostConfig.Mounts", "reshape",
         "compared in the order of their targets (Compose sends them in no fixed order)",
         transform=sorted_by_target),
    Rule("Config.Hostname", "default",
         "the engine names a container after its short ID when no hostname is declared",
         value=lambda context: context["short_id"]),
    Rule("HostConfig.LogConfig.Type", "default",
         "the engine's logging driver (docker info) when the declaration sets none",
         value=lambda context: context["logging_driver"]),
    Rule("HostConfig.Runtime", "default",
         "the engine's default runtime (docker info) when the declaration sets none",
         value=lambda context: context["runtime"]),
    Rule("HostConfig.CgroupnsMode", "default",
         "the engine's default cgroup namespace: 'host' on cgroup v1, 'private' on v2",
         value=lambda context: "host" if context["cgroup_version"] == "1" else "private"),
    Rule("HostConfig.IpcMode", "default", "the engine's default IPC mode ('private') when none is declared",
         value="private"),
    Rule("HostConfig.ShmSize", "default", "the engine's default /dev/shm size (64 MiB) when none is declared",
         value=64 * 1024 * 1024),
    Rule("HostConfig.MaskedPaths", "default",
         "the engine masks these /proc and /sys paths in every unprivileged container", value=MASKED_PATHS),
    Rule("HostConfig.ReadonlyPaths", "default",
         "the engine makes these /proc paths read-only in every unprivileged container", value=READONLY_PATHS),
    Rule("NetworkSettings.Networks*.Aliases", "running",
         "the engine adds the container's short ID as an alias on every network", transform=_without_short_id),
    *(
        Rule(f"NetworkSettings.Networks*.{key}", "ignore",
             "assigned by the engine when the container starts; declared addresses are compared under IPAMConfig")
        for key in _ASSIGNED_AT_START
    ),
)  # fmt: skip


def compare_compose(docker: Docker, model: Model, revisions: dict[str, str]) -> list[Difference]:
    env = model.env.name
    rendered = render_compose(docker, model, model_file(model))
    by_service: dict[str, list[dict[str, Any]]] = {}
    for container in docker.inspect_containers(f"{PROJECT_LABEL}={model.project}"):
        by_service.setdefault(container["Config"]["Labels"].get(SERVICE_LABEL, "?"), []).append(container)
    declared_services = set(model.services)
    secrets = secret_values(model)
    found: list[Difference] = []
    for service in sorted(set(by_service) - declared_services):
        rec = Recorder(env, service, secrets)
        rec.add("presence", "service", "(not declared)", count(len(by_service[service]), "container"))
        found += rec.found
    logging_driver, runtime, cgroup_version = docker.engine_defaults()
    engine = {"logging_driver": logging_driver, "runtime": runtime, "cgroup_version": cgroup_version}
    declared_by_name = {name.lstrip("/"): body for name, body in rendered.specs.items()}
    for service in sorted(declared_services):
        rec = Recorder(env, service, secrets)
        containers = by_service.get(service, [])
        names = sorted(n for n, b in declared_by_name.items() if (b.get("Labels") or {}).get(SERVICE_LABEL) == service)
        running = {str(c["Name"]).lstrip("/"): c for c in containers}
        for name in names:
            if name not in running:
                rec.add("presence", f"container {name}", "running", "not created")
                continue
            container = running[name]
            body = declared_by_name[name]
            image = rendered.images.get(str(body.get("Image")), {})
            context = {**engine, "short_id": str(container["Id"])[:12]}
            prefix = f"{name}: " if len(names) > 1 else ""
            rec.fields(container_differences(body, image, container, context), prefix)
            _check_state(rec, container, prefix)
            check_no_secret_in_plain_variables(rec, env_map(container["Config"].get("Env")), secrets)
        for name in sorted(set(running) - set(names)):
            rec.add("presence", f"container {name}", "(not declared)", str(running[name]["State"].get("Status")))
        reference = str(model.document["services"][service].get("image", ""))
        if reference in revisions and containers:
            rec.check("image", "revision label", revisions[reference], revision_of(docker, reference))
        found += rec.found
    return found


def declared_container(body: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """A create body in the shape of `docker inspect`, completed with the image's configuration."""
    config = {k: v for k, v in body.items() if k not in {"HostConfig", "NetworkingConfig", "Id"}}
    return {
        "Image": image.get("Id", "(not on this engine)"),
        "Config": merge_image_config(config, image.get("Config") or {}),
        "HostConfig": body.get("HostConfig") or {},
        "NetworkSettings": {"Networks": (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}},
    }


def running_container(inspect: dict[str, Any]) -> dict[str, Any]:
    """The compared part of `docker inspect`: configuration, not state (State is checked apart)."""
    return {
        "Image": inspect.get("Image"),
        "Config": inspect.get("Config") or {},
        "HostConfig": inspect.get("HostConfig") or {},
        "NetworkSettings": {"Networks": (inspect.get("NetworkSettings") or {}).get("Networks") or {}},
    }


def container_differences(
    body: dict[str, Any], image: dict[str, Any], inspect: dict[str, Any], context: dict[str, Any]
) -> list[Any]:
    return compare(
        normalise(declared_container(body, image), "", RULES, context, "declared"),
        normalise(running_container(inspect), "", RULES, context, "running"),
    )


def merge_image_config(user: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """What the engine does at create time (moby daemon/commit.go `merge`): the image fills in."""
    merged = copy.deepcopy(user)
    if not merged.get("User"):
        merged["User"] = image.get("User", "")
    ports = dict(image.get("ExposedPorts") or {})
    merged["ExposedPorts"] = {**ports, **(merged.get("ExposedPorts") or {})} or None
    env = list(merged.get("Env") or [])
    keys = {entry.split("=", 1)[0] for entry in env}
    merged["Env"] = env + [entry for entry in image.get("Env") or [] if entry.split("=", 1)[0] not in keys]
    merged["Labels"] = {**(image.get("Labels") or {}), **(merged.get("Labels") or {})}
    if not merged.get("Entrypoint"):
        if not merged.get("Cmd"):
            merged["Cmd"] = image.get("Cmd")
        if merged.get("Entrypoint") is None:
            merged["Entrypoint"] = image.get("Entrypoint")
    health, image_health = merged.get("Healthcheck"), image.get("Healthcheck")
    if image_health:
        if not health:
            merged["Healthcheck"] = image_health
        else:
            merged["Healthcheck"] = {**image_health, **{k: v for k, v in health.items() if v}}
    if not merged.get("WorkingDir"):
        merged["WorkingDir"] = image.get("WorkingDir", "")
    merged["Volumes"] = {**(image.get("Volumes") or {}), **(merged.get("Volumes") or {})} or None
    if not merged.get("StopSignal"):
        merged["StopSignal"] = image.get("StopSignal", "")
    return merged


def _check_state(rec: Recorder, container: dict[str, Any], prefix: str) -> None:
    state = container.get("State") or {}
    rec.check("state", f"{prefix}state", "running", state.get("Status"))
    health = (state.get("Health") or {}).get("Status", "none")
    rec.check("state", f"{prefix}health", "healthy", health)
