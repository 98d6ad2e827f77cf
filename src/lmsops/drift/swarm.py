"""Swarm drift: every declared service's whole spec against the spec Swarm holds, then its tasks.

The declared spec is what `docker stack deploy` sends for the model (lmsops.drift.render). RULES is the
one list of what may differ, each with its reason; every other field of the spec is compared.
"""

from __future__ import annotations

from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from lmsops.core.swarmapi import running_task
from lmsops.drift.compare import (
    Difference,
    Recorder,
    check_no_secret_in_plain_variables,
    env_map,
    model_file,
    revision_of,
    secret_values,
)
from lmsops.drift.render import render_swarm
from lmsops.drift.specdiff import Rule, compare, env_as_map, normalise
from lmsops.environments.model import COMMIT_LABEL, CONFIG_LABEL, Model

SECOND = 1_000_000_000

RULES: tuple[Rule, ...] = (
    Rule(f"Labels[{COMMIT_LABEL}]", "ignore",
         "release metadata lmsops writes on purpose: the commit that deployed the service is history "
         "(nox -s history); what it deployed is compared field by field"),
    Rule(f"Labels[{CONFIG_LABEL}]", "ignore",
         "release metadata lmsops writes on purpose: the hash of the model that was deployed; the model's "
         "fields themselves are compared"),
    Rule("TaskTemplate.ForceUpdate", "ignore",
         "a counter that `docker service update --force` raises to restart tasks; no configuration"),
    Rule("TaskTemplate.ContainerSpec.Secrets[].SecretID", "ignore",
         "the ID Swarm gives a secret when it is created; the secret's name (carrying a hash of its value) "
         "is compared"),
    Rule("TaskTemplate.ContainerSpec.Configs[].ConfigID", "ignore",
         "the ID Swarm gives a config when it is created; the config's name is compared"),
    Rule("TaskTemplate.ContainerSpec.Env", "reshape",
         "compared variable by variable, in any order (the engine keeps the order the client sent)",
         transform=env_as_map),
    Rule("TaskTemplate.Networks[].Target", "running",
         "Swarm stores the network's ID; the declaration names it (mapped back to the name)",
         transform=lambda value, context: context["networks"].get(value, value)),
    Rule("TaskTemplate.ContainerSpec.StopGracePeriod", "default",
         "Swarm fills in 10 s when the declaration sets no stop_grace_period", value=10 * SECOND),
    Rule("TaskTemplate.ContainerSpec.Isolation", "default",
         "Swarm fills in 'default' when the declaration sets no isolation", value="default"),
    Rule("UpdateConfig.Monitor", "default", "Swarm's default monitor window (5 s) when none is declared",
         value=5 * SECOND),
    Rule("RollbackConfig.Parallelism", "default", "Swarm's default rollback parallelism (1)", value=1),
    Rule("RollbackConfig.FailureAction", "default", "Swarm's default rollback failure action ('pause')",
         value="pause"),
    Rule("RollbackConfig.Monitor", "default", "Swarm's default rollback monitor window (5 s)", value=5 * SECOND),
    Rule("RollbackConfig.Order", "default", "Swarm's default rollback order ('stop-first')", value="stop-first"),
    Rule("TaskTemplate.Runtime", "default",
         "Swarm fills in 'container' (the task runs a container) when the spec names no runtime",
         value="container"),
)  # fmt: skip


def compare_swarm(docker: Docker, model: Model, revisions: dict[str, str], images: Docker) -> list[Difference]:
    """docker: the swarm manager; images: the engine the images were built and pushed from (on a
    multi-node swarm the manager need not hold an image whose tasks run on other nodes)."""
    env, stack = model.env.name, model.project
    rendered = render_swarm(images, model, model_file(model)).specs
    services = {str(s["Spec"]["Name"]).removeprefix(f"{stack}_"): s for s in docker.stack_services(stack)}
    secrets = secret_values(model)
    found: list[Difference] = []
    for name in sorted(set(services) - set(rendered)):
        rec = Recorder(env, name, secrets)
        rec.add("presence", "service", "(not declared)", "running in the stack")
        found += rec.found
    network_ids = {n["Target"] for s in services.values() for n in s["Spec"]["TaskTemplate"].get("Networks") or []}
    context = {"networks": docker.network_names(sorted(network_ids))}
    for name, declared in sorted(rendered.items()):
        rec = Recorder(env, name, secrets)
        service = services.get(name)
        if service is None:
            rec.add("presence", "service", "running", "not in the stack")
        else:
            rec.fields(spec_differences(declared, service["Spec"], context))
            _check_tasks(docker, rec, service, declared, revisions, images)
            running_env = env_map(service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env"))
            check_no_secret_in_plain_variables(rec, running_env, secrets)
        found += rec.found
    return found


def spec_differences(declared: dict[str, Any], running: dict[str, Any], context: dict[str, Any]) -> list[Any]:
    """The fields of a service spec that differ, after RULES."""
    return compare(
        normalise(declared, "", RULES, context, "declared"),
        normalise(running, "", RULES, context, "running"),
    )


def _check_tasks(
    docker: Docker,
    rec: Recorder,
    service: dict[str, Any],
    declared: dict[str, Any],
    revisions: dict[str, str],
    images: Docker,
) -> None:
    """The state: declared replicas running, healthy, on the image the reference names, from this tree."""
    image = str(declared["TaskTemplate"]["ContainerSpec"].get("Image", ""))
    tasks = [
        t for t in docker.service_tasks(str(service["Spec"]["Name"]))
        if running_task(t)
    ]  # fmt: skip
    replicas = (declared.get("Mode") or {}).get("Replicated", {}).get("Replicas")
    if replicas is not None:
        rec.check("state", "running tasks", int(replicas), len(tasks))
    unhealthy = sorted(t["ID"][:12] for t in tasks if _task_health(docker, t) not in {"healthy", ""})
    rec.check("state", "unhealthy tasks", [], unhealthy)
    declared_id = images.image_id(image) or "(not on this engine)"
    for image_id in sorted({_task_image_id(docker, t) for t in tasks} - {""}):
        rec.check("image", "image id", declared_id, image_id)
    if image in revisions:
        rec.check("image", "revision label", revisions[image], revision_of(images, image))


def _task_container(task: dict[str, Any]) -> str:
    return str(task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID", ""))


def _task_inspect(docker: Docker, task: dict[str, Any]) -> dict[str, Any]:
    container = _task_container(task)
    if not container:
        return {}
    try:
        return dict(docker.container_inspect(container))
    except CommandError:  # a container on another node cannot be inspected from here
        return {}


def _task_image_id(docker: Docker, task: dict[str, Any]) -> str:
    return str(_task_inspect(docker, task).get("Image", ""))


def _task_health(docker: Docker, task: dict[str, Any]) -> str:
    state = _task_inspect(docker, task).get("State")
    health = state.get("Health") if isinstance(state, dict) else None
    return str(health.get("Status", "")) if isinstance(health, dict) else ""
