"""`nox -s plan -- ENV`: what a deploy of ENV would change, per service, computed without changing anything.

A plan is drift between what this commit would deploy and what runs, grouped for people: the same
rendering of the declared side by the deploy tools against lmsops's fake engine, the same field by
field comparison (lmsops.drift), read as image, variables (names only: a value may be a secret),
replicas, resources, secret versions, services added and removed, and every other field by name.
Nothing is built or pushed: an image this commit has not published (or, on Compose, not built) yet
is shown by its tag as a new image. The database schema is not compared (that runs containers);
the deploy's migrations say what they apply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError, LmsopsError
from lmsops.drift.compare import Difference
from lmsops.drift.report import around_difference, human
from lmsops.environments.config import load_environment
from lmsops.environments.model import Model, model_services, registry_references, resolve
from lmsops.environments.stack import deployed_images
from lmsops.images.context import Context
from lmsops.releases.registry import answers, is_loopback
from lmsops.targets.base import Target
from lmsops.targets.factory import target_of

Action = Literal["add", "remove", "change"]
_IMAGE_PATHS = {"TaskTemplate.ContainerSpec.Image", "Config.Image"}
_SECRETS_PATH = "TaskTemplate.ContainerSpec.Secrets"
_REPLICAS_PATH = "Mode.Replicated.Replicas"
_ENV_KEY = re.compile(r"\.Env(?:\.(\w+)|\[(.+)\])$")
# Fields that only mirror the image reference (compared through it) or are state, not configuration.
_MIRRORS_IMAGE = {"Labels[com.docker.stack.image]"}


@dataclass(frozen=True)
class Change:
    kind: str  # image, environment, replicas, resources, secrets, containers, other
    what: str  # the field, variable or secret it is about
    old: str = ""  # what runs ('' for something added)
    new: str = ""  # what the deploy would run ('' for something removed)


@dataclass(frozen=True)
class ServicePlan:
    service: str
    action: Action
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    env: str
    where: str  # 'Swarm stack lms-staging on the local engine'
    services: list[ServicePlan]
    first_deploy: bool = False  # nothing could be read from the target: everything is new

    @property
    def empty(self) -> bool:
        return not self.first_deploy and not self.services


def first_deploy(env: str, where: str, services: list[str]) -> Plan:
    return Plan(env, where, [ServicePlan(name, "add") for name in sorted(services)], first_deploy=True)


# -- the declared side: resolved without building or pushing -----------------------------------------


@dataclass(frozen=True)
class Declared:
    model: Model
    unavailable: dict[str, str]  # service -> why its image is not there yet ('new image, not yet published')


def declared(ctx: Context, env_name: str, pinned: dict[str, str] | None = None) -> Declared:
    """The model this commit would deploy. A registry environment runs digests; an image the registry
    does not hold yet is pinned to the tag publish would push, and said to be new."""
    repo, docker, images = ctx.repo, ctx.docker, ctx.plan()
    registry = load_environment(repo, env_name, model_services(repo)).target.registry
    if not registry:
        return Declared(resolve(repo, docker, env_name, pinned, plan=images), {})
    try:
        found = registry_references(repo, docker, registry, images)
    except CommandError:
        if not is_loopback(registry) or answers(registry):
            raise
        found = {}  # lmsops's own loopback registry, not started yet: the deploy starts it and pushes every image
    wanted = deployed_images(repo, [image.name for image in images])
    missing = {
        image.name: f"{registry}/{image.reference}"
        for image in images
        if image.name in wanted and image.name not in found and image.name not in (pinned or {})
    }
    model = resolve(repo, docker, env_name, {**missing, **(pinned or {})}, plan=images)
    return Declared(model, dict.fromkeys(missing, "new image, not yet published"))


# -- the comparison ---------------------------------------------------------------------------------


def differences(target: Target, images: Docker, wanted: Declared) -> tuple[list[Difference], Declared]:
    """Configuration differences between the model and what its target runs (drift without the
    database schema: lmsops.targets.base.Target.planned_differences)."""
    found, not_built = target.planned_differences(wanted.model, images)
    return found, Declared(wanted.model, {**wanted.unavailable, **not_built})


# -- from differences to a plan ---------------------------------------------------------------------


def plan_from(env: str, where: str, found: list[Difference], wanted: Declared) -> Plan:
    """The differences, read as what a deploy changes, per service (services in name order)."""
    by_service: dict[str, list[Difference]] = {}
    for difference in found:
        by_service.setdefault(difference.service, []).append(difference)
    document = wanted.model.document.get("services", {})
    for service in wanted.unavailable:
        by_service.setdefault(service, [])
    plans = []
    for service, diffs in sorted(by_service.items()):
        action = _action(diffs)
        if action == "remove":
            plans.append(ServicePlan(service, "remove"))
            continue
        changes = _changes(diffs)
        if service in wanted.unavailable:  # shown by the tag it will have, said to be new
            reference = short_image(str(document.get(service, {}).get("image", "")))
            old = next((c.old for c in changes if c.kind == "image"), "")
            changes = [c for c in changes if c.kind != "image"]
            changes.insert(0, Change("image", "image", old, f"{reference} ({wanted.unavailable[service]})"))
        if action == "add":
            plans.append(ServicePlan(service, "add", [c for c in changes if c.kind == "image"]))
        elif changes:
            plans.append(ServicePlan(service, "change", changes))
    return Plan(env, where, plans)


def _action(diffs: list[Difference]) -> Action:
    for d in diffs:
        if d.category == "presence" and d.field == "service":
            return "remove" if d.declared == "(not declared)" else "add"
    containers = [d for d in diffs if d.category == "presence" and d.field.startswith("container ")]
    if containers and len(containers) == len(diffs) and all(d.running == "not created" for d in containers):
        return "add"  # Compose: no container of the service exists yet
    return "change"


# Compose's hash of a service's whole configuration: a change of it restates the service's other changes
# (shown on their own); alone, it is the only sign of a change lmsops does not compare field by field.
_CONFIG_HASH = "com.docker.compose.config-hash"


def _changes(diffs: list[Difference]) -> list[Change]:
    changes: list[Change] = []
    if any(_CONFIG_HASH not in d.path and d.category != "state" for d in diffs):
        diffs = [d for d in diffs if _CONFIG_HASH not in d.path]
    variables: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
    reference_changed = any(d.path in _IMAGE_PATHS for d in diffs)
    for d in diffs:
        if d.path in _IMAGE_PATHS:
            changes.append(Change("image", "image", short_image(d.running), short_image(d.declared)))
        elif d.category == "image" and (d.path in {"", "Image"}):  # the image's ID: same reference, other content
            if not reference_changed:
                changes.append(Change("image", "image id", short_image(d.running), short_image(d.declared)))
        elif d.path in _MIRRORS_IMAGE or d.category == "state" or (d.category == "environment" and not d.path):
            continue
        elif (match := _ENV_KEY.search(d.path)) is not None:
            name = match.group(1) or match.group(2)
            how = "added" if d.running == "(not set)" else "removed" if d.declared == "(not set)" else "changed"
            variables[how].append(name)
        elif d.path == _REPLICAS_PATH:
            changes.append(Change("replicas", "replicas", d.running, d.declared))
        elif d.path == _SECRETS_PATH:
            changes += _secret_changes(d.running, d.declared)
        elif d.category == "presence":
            changes.append(Change("containers", d.field, d.running, d.declared))
        else:
            old, new = around_difference(human(d.path, d.running), human(d.path, d.declared))
            kind = "resources" if d.category == "resources" else "other"
            changes.append(Change(kind, d.field, old, new))
    for how, names in variables.items():
        if names:
            changes.append(Change("environment", f"{how}: {', '.join(sorted(names))}"))
    order = ("image", "environment", "replicas", "resources", "secrets", "containers", "other")
    return sorted(changes, key=lambda c: order.index(c.kind))


def _secret_versions(text: str) -> dict[str, str]:
    """Swarm secret names carry a hash of their value: 'lms-staging_catalog-db-password_407e974a3b'
    -> {'catalog-db-password': '407e974a3b'} (the hash says the value changed, never what it is)."""
    try:
        items = json.loads(text)
    except ValueError:
        return {}
    versions = {}
    for item in items if isinstance(items, list) else []:
        name = str(item.get("SecretName", "")) if isinstance(item, dict) else ""
        base, _, version = name.rpartition("_")
        versions[base.partition("_")[2] or base] = version
    return versions


def _secret_changes(running: str, declared: str) -> list[Change]:
    old, new = _secret_versions(running), _secret_versions(declared)
    return [
        Change("secrets", name, old.get(name, ""), new.get(name, ""))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


_DIGEST = re.compile(r"sha256:([0-9a-f]{12})[0-9a-f]{52}")


def short_image(reference: str) -> str:
    """'127.0.0.1:5000/lmsops/catalog@sha256:8f30...' -> 'catalog@sha256:8f30f30fd238'; an image ID
    'sha256:...' -> 'sha256:' and 12 hex; a tag reference keeps its tag."""
    if reference.startswith("(") or not reference:
        return reference
    name = reference if reference.startswith("sha256:") else reference.rsplit("/", 1)[-1]
    return _DIGEST.sub(r"sha256:\1", name)


# -- the whole plan -----------------------------------------------------------------------------------


def plan_environment(ctx: Context, env_name: str, pinned: dict[str, str] | None = None) -> Plan:
    """What a deploy of env_name would change (pinned: service -> image, as promote deploys)."""
    return plan_with_model(ctx, env_name, pinned)[0]


def plan_with_model(ctx: Context, env_name: str, pinned: dict[str, str] | None = None) -> tuple[Plan, Declared]:
    """The plan, and the declared side it was computed from (a deploy without a registry applies it)."""
    wanted = declared(ctx, env_name, pinned)
    return plan_of(ctx.docker, wanted), wanted


def plan_of(docker: Docker, wanted: Declared) -> Plan:
    """The plan of a resolved model against what its target runs. A target that cannot be read and
    runs nothing (a swarm not created yet, an engine without the project) is a first deploy."""
    target = target_of(docker, wanted.model)
    try:
        found, wanted = differences(target, docker, wanted)
    except CommandError:
        if _runs_something(target):
            raise
        return first_deploy(wanted.model.env.name, target.description, wanted.model.services)
    return plan_from(wanted.model.env.name, target.description, found, wanted)


def _runs_something(target: Target) -> bool:
    try:
        return bool(target.status())
    except LmsopsError:
        return False
