"""The Swarm and stack part of the Docker adapter (mixed into lmsops.core.docker.Docker)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from lmsops.core import proc
from lmsops.core.errors import CommandError

STACK_LABEL = "com.docker.stack.namespace"


def running_task(task: dict[str, Any]) -> bool:
    """A task Swarm wants running and that runs (not one starting, shutting down or failed)."""
    return task.get("DesiredState") == "running" and task.get("Status", {}).get("State") == "running"


class _Runs(Protocol):
    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result: ...


class SwarmCalls:
    """docker swarm / stack / service / secret calls; every one goes through Docker.run."""

    def swarm_state(self: _Runs) -> tuple[str, bool]:
        """(LocalNodeState, is a manager) of the engine: ('inactive', False) on a plain engine."""
        out = self.run("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").stdout.split()
        return (out[0] if out else "unknown", len(out) > 1 and out[1] == "true")

    def swarm_init(self: _Runs) -> None:
        # A single-node swarm on loopback: nothing outside this machine can join it.
        self.run("swarm", "init", "--advertise-addr", "127.0.0.1")

    def swarm_leave(self: _Runs) -> None:
        """Leave the swarm, and remove the bridge network that `swarm init` created for it."""
        self.run("swarm", "leave", "--force", check=False)
        self.run("network", "rm", "docker_gwbridge", check=False)

    def stack_deploy(self: _Runs, stack: str, model: Path, check: bool = True) -> proc.Result:
        # --resolve-image never: the images are those lmsops built, never looked up in a registry.
        return self.run(
            "stack",
            "deploy",
            "--prune",
            "--resolve-image",
            "never",
            "--detach=true",
            "--compose-file",
            str(model),
            stack,
            check=check,
        )

    def service_force_update(self: _Runs, service: str) -> None:
        """New tasks of the same spec, as Swarm restarts a service; returns once they run."""
        self.run("service", "update", "--force", "--quiet", service)

    def service_set_image(self: _Runs, service: str, image: str) -> None:
        self.run("service", "update", "--detach", "--image", image, service)

    def stack_rm(self: _Runs, stack: str) -> None:
        self.run("stack", "rm", stack, check=False)

    def stack_services(self: _Runs, stack: str) -> list[dict[str, Any]]:
        ids = self.run("service", "ls", "--quiet", "--filter", f"label={STACK_LABEL}={stack}").stdout.split()
        return _inspect_all(self, "service", ids)

    def stack_tasks(self: _Runs, stack: str) -> list[dict[str, Any]]:
        """Every task of a stack's services (with the recent history Swarm keeps), inspected: two
        calls for the whole stack, where one service_tasks per service would be two each."""
        ids = self.run("stack", "ps", "--quiet", "--no-trunc", stack, check=False).stdout.split()
        return _inspect_all(self, "inspect", ids)

    def service_tasks(self: _Runs, service: str) -> list[dict[str, Any]]:
        ids = self.run("service", "ps", "--quiet", "--no-trunc", service, check=False).stdout.split()
        return _inspect_all(self, "inspect", ids)

    def config_create(self: _Runs, name: str, labels: dict[str, str], data: bytes, check: bool = True) -> bool:
        """Create a Swarm config; False (with check=False) when one of that name exists already: the
        swarm's store refuses a second one atomically, which the deploy lock relies on."""
        argv = ["config", "create"]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}"]
        result = self.run(*argv, name, "-", input_bytes=data, check=check)
        if result.returncode == 0:
            return True
        if "already exists" in result.output:
            return False
        raise CommandError(result.argv, result.returncode, result.output)

    def config_data(self: _Runs, name: str) -> bytes | None:
        """The data of the Swarm config name; None when there is none."""
        found = self.run("config", "inspect", "--format", "{{json .Spec.Data}}", name, check=False)
        if found.returncode != 0:
            return None
        return base64.b64decode(json.loads(found.stdout))

    def configs_with_label(self: _Runs, label: str) -> list[dict[str, Any]]:
        """Every Swarm config carrying label (KEY or KEY=VALUE), inspected (Spec.Data is base64)."""
        ids = self.run("config", "ls", "--quiet", "--filter", f"label={label}").stdout.split()
        return _inspect_all(self, "config", ids)

    def config_rm(self: _Runs, names: Sequence[str]) -> proc.Result:
        return self.run("config", "rm", *names, check=False)

    def stack_secrets(self: _Runs, stack: str) -> list[str]:
        out = self.run("secret", "ls", "--filter", f"label={STACK_LABEL}={stack}", "--format", "{{.Name}}").stdout
        return out.split()

    def secret_rm(self: _Runs, names: Sequence[str]) -> proc.Result:
        return self.run("secret", "rm", *names, check=False)

    def stack_networks(self: _Runs, stack: str) -> list[str]:
        out = self.run("network", "ls", "--filter", f"label={STACK_LABEL}={stack}", "--format", "{{.Name}}").stdout
        return out.split()

    def volumes_with_label(self: _Runs, label: str) -> list[str]:
        return self.run("volume", "ls", "--quiet", "--filter", f"label={label}").stdout.split()

    def volume_rm(self: _Runs, names: Sequence[str]) -> proc.Result:
        return self.run("volume", "rm", *names, check=False)


def _inspect_all(runner: _Runs, kind: str, ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    args = ["inspect", *ids] if kind == "inspect" else [kind, "inspect", *ids]
    result = runner.run(*args, check=False)
    if result.returncode != 0 and not result.stdout.strip():
        return []
    data = json.loads(result.stdout or "[]")
    return [item for item in data if isinstance(item, dict)]
