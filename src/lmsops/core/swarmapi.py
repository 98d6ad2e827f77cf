"""The Swarm and stack part of the Docker adapter (mixed into lmsops.core.docker.Docker)."""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Callable, Mapping, Sequence
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


class _Attaches(_Runs, Protocol):
    def attached(self, *args: str) -> int: ...

    def merged(self, commands: Mapping[str, Sequence[str]], on_line: Callable[[str, str], None]) -> dict[str, int]: ...


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
        # --detach=true: lmsops waits for the stack itself (lmsops.targets.swarm). Clients from 26 on detach
        # by default and announce that this will change, so it is said; older clients (Debian 12's docker.io
        # 20.10) have no such flag and always detach.
        detach = ["--detach=true"] if client_major(self) >= 26 else []
        argv = ["stack", "deploy", "--prune", "--resolve-image", "never", *detach, "--compose-file", str(model), stack]
        return self.run(*argv, check=check)

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
        ids = self.run("stack", "ps", "--quiet", "--no-trunc", "--no-resolve", stack, check=False).stdout.split()
        return _inspect_all(self, "task", ids)

    def service_tasks(self: _Runs, service: str) -> list[dict[str, Any]]:
        ids = self.run("service", "ps", "--quiet", "--no-trunc", "--no-resolve", service, check=False).stdout.split()
        return _inspect_all(self, "task", ids)

    def service_inspect(self: _Runs, service: str) -> dict[str, Any] | None:
        """The inspect document of a service; None when there is no such service."""
        found = _inspect_all(self, "service", [service])
        return found[0] if found else None

    def services_logs(
        self: _Attaches,
        services: Mapping[str, str],
        on_line: Callable[[str, str], None],
        *,
        follow: bool = False,
        since: str | None = None,
        tail: int | None = None,
    ) -> dict[str, int]:
        """`docker service logs --timestamps` of several services side by side (key -> service name):
        each line to on_line(key, line) as it comes, "TIME TASK@NODE    | TEXT"; their exit codes."""
        options = ["--timestamps", *(["--follow"] if follow else [])]
        options += [*(["--since", since] if since else []), *(["--tail", str(tail)] if tail is not None else [])]
        return self.merged({key: ["service", "logs", *options, name] for key, name in services.items()}, on_line)

    def job_create(
        self: _Runs, name: str, template: Mapping[str, Any], command: Sequence[str], labels: Mapping[str, str]
    ) -> None:
        """A Swarm job (one task, run once, never restarted) with a service's task template (image,
        environment, user, secrets, configs, mounts, networks, limits: job_options) running command
        instead of the image's CMD; returns once created (follow it with service_tasks)."""
        argv = ["service", "create", "--detach", "--quiet", "--name", name, "--mode", "replicated-job"]
        argv += ["--restart-condition", "none", "--no-resolve-image", "--no-healthcheck"]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}", "--container-label", f"{key}={value}"]
        image = str((template.get("ContainerSpec") or {}).get("Image", ""))
        self.run(*argv, *job_options(template), image, *command)

    def service_rm(self: _Runs, names: Sequence[str]) -> proc.Result:
        return self.run("service", "rm", *names, check=False)

    def service_output(self: _Attaches, service: str) -> int:
        """What the tasks of service printed (`docker service logs --raw`), on this terminal."""
        return self.attached("service", "logs", "--raw", service)

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
    # Tasks by `inspect --type task`: a bare `docker inspect ID` looks the ID up as a container, image,
    # network, volume, the swarm (/info) and a service before a task, seven API calls per task where this
    # is one (a deploy's wait reads the stack's tasks every second: ~10 untyped lookups a second seen).
    # `--no-resolve` above likewise spares a service and node lookup per task only shown as names.
    args = ["inspect", "--type", "task", *ids] if kind == "task" else [kind, "inspect", *ids]
    result = runner.run(*args, check=False)
    if result.returncode != 0 and not result.stdout.strip():
        return []
    data = json.loads(result.stdout or "[]")
    return [item for item in data if isinstance(item, dict)]


def job_options(template: Mapping[str, Any]) -> list[str]:
    """`docker service create` options giving a new service the settings of a service's task template
    (Spec.TaskTemplate): environment, user, working folder, entrypoint, read-only root, capabilities,
    secrets and configs (same file, owner and mode), mounts, networks, placement constraints, limits."""
    spec = template.get("ContainerSpec") or {}
    argv: list[str] = []
    for item in spec.get("Env") or []:
        argv += ["--env", str(item)]
    for key, flag in (("User", "--user"), ("Dir", "--workdir")):
        if spec.get(key):
            argv += [flag, str(spec[key])]
    if spec.get("Command"):
        argv += ["--entrypoint", shlex.join(str(part) for part in spec["Command"])]
    if spec.get("ReadOnly"):
        argv.append("--read-only")
    for cap in spec.get("CapabilityDrop") or []:
        argv += ["--cap-drop", str(cap)]
    for cap in spec.get("CapabilityAdd") or []:
        argv += ["--cap-add", str(cap)]
    for kind, key in (("--secret", "SecretName"), ("--config", "ConfigName")):
        for item in spec.get("Secrets" if kind == "--secret" else "Configs") or []:
            file = item.get("File") or {}
            argv += [kind, f"source={item[key]},target={file.get('Name', item[key])},uid={file.get('UID', '0')},"
                     f"gid={file.get('GID', '0')},mode={int(file.get('Mode', 0o444)):04o}"]  # fmt: skip
    for mount in spec.get("Mounts") or []:
        argv += ["--mount", _mount(mount)]
    for network in template.get("Networks") or []:
        argv += ["--network", str(network["Target"])]
    for constraint in (template.get("Placement") or {}).get("Constraints") or []:
        argv += ["--constraint", str(constraint)]
    limits = (template.get("Resources") or {}).get("Limits") or {}
    if limits.get("MemoryBytes"):
        argv += ["--limit-memory", f"{int(limits['MemoryBytes'])}b"]
    if limits.get("NanoCPUs"):
        argv += ["--limit-cpu", f"{int(limits['NanoCPUs']) / 1e9:g}"]
    if limits.get("Pids"):
        argv += ["--limit-pids", str(int(limits["Pids"]))]
    return argv


def _mount(mount: Mapping[str, Any]) -> str:
    parts = [f"type={mount.get('Type', 'volume')}", f"destination={mount['Target']}"]
    if mount.get("Source"):
        parts.append(f"source={mount['Source']}")
    if mount.get("ReadOnly"):
        parts.append("readonly")
    tmpfs = mount.get("TmpfsOptions") or {}
    if tmpfs.get("SizeBytes"):
        parts.append(f"tmpfs-size={int(tmpfs['SizeBytes'])}")
    if tmpfs.get("Mode"):
        parts.append(f"tmpfs-mode={int(tmpfs['Mode']):o}")
    return ",".join(parts)


def client_major(docker: _Runs) -> int:
    """The major version of the docker CLI lmsops runs (0 when it cannot tell: the oldest behaviour)."""
    found = docker.run("version", "--format", "{{.Client.Version}}", check=False).stdout.strip()
    major = found.split(".", 1)[0]
    return int(major) if major.isdigit() else 0
