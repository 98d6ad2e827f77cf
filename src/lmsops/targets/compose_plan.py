"""What a deploy of a model would change on a Compose project, for `plan`: drift without the schema.

The engine completes a container with its image's settings, so an image that is not built yet cannot
be rendered: the comparison takes the image the service runs now instead (the new image's own
settings are compared once it is built), and a service that does not run yet is left out (it is new
as a whole). Swarm specs carry no image settings, so a Swarm stack is compared as it is.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from lmsops.core.docker import Docker
from lmsops.core.yamlfile import dump_yaml
from lmsops.drift.compare import Difference
from lmsops.drift.compose import PROJECT_LABEL, SERVICE_LABEL, compare_compose
from lmsops.environments.model import Model

NOT_BUILT = "new image, not yet built"


def compose_planned_differences(
    engine: Docker, images: Docker, model: Model
) -> tuple[list[Difference], dict[str, str]]:
    """The differences a deploy of model would make, and the services whose image is not built yet
    (service -> a note for the plan)."""
    unbuilt = {
        name: str(spec.get("image", ""))
        for name, spec in model.document.get("services", {}).items()
        if images.image_inspect(str(spec.get("image", ""))) is None
    }
    if not unbuilt:
        return compare_compose(engine, model, {}), {}
    running: dict[str, str] = {}
    for container in engine.inspect_containers(f"{PROJECT_LABEL}={model.project}"):
        service = (container["Config"].get("Labels") or {}).get(SERVICE_LABEL, "")
        running.setdefault(service, str(container["Config"].get("Image", "")))
    document = copy.deepcopy(model.document)
    for name in unbuilt:
        if name in running:
            document["services"][name]["image"] = running[name]
        else:
            _leave_out(document, name)
    text = dump_yaml(document)
    compared = dataclasses.replace(model, document=document, text=text)
    found = compare_compose(engine, compared, {})
    found += [
        Difference(model.env.name, name, "image", "image", unbuilt[name], running[name], "Config.Image")
        for name in unbuilt
        if name in running
    ]
    found += [
        Difference(model.env.name, name, "presence", "service", "running", "not in the project")
        for name in unbuilt
        if name not in running
    ]
    return found, {name: NOT_BUILT for name in unbuilt if name in running}


def _leave_out(document: dict[str, Any], name: str) -> None:
    services: dict[str, Any] = document["services"]
    del services[name]
    for spec in services.values():
        depends = spec.get("depends_on")
        if isinstance(depends, dict):
            depends.pop(name, None)
        elif isinstance(depends, list) and name in depends:
            depends.remove(name)
