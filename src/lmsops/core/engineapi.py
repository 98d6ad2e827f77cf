"""Networks, contexts, containers by name and swarm nodes: the part of the Docker adapter that
lmsops's own infrastructure (the loopback registry, the test cluster) uses; mixed into
lmsops.core.docker.Docker like lmsops.core.swarmapi."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from lmsops.core import proc


class _Runs(Protocol):
    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result: ...


class _Attaches(_Runs, Protocol):
    def attached(self, *args: str) -> int: ...


class EngineCalls:
    """docker network / context / ps / node calls; every one goes through Docker.run."""

    # -- networks -------------------------------------------------------------------------------
    def network_exists(self: _Runs, name: str) -> bool:
        return self.run("network", "inspect", name, check=False).returncode == 0

    def network_create(self: _Runs, name: str, labels: Mapping[str, str]) -> None:
        argv = ["network", "create"]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}"]
        self.run(*argv, name)

    def network_connect(self: _Runs, network: str, container: str, alias: str | None = None) -> None:
        self.run("network", "connect", *(["--alias", alias] if alias else []), network, container)

    def network_disconnect(self: _Runs, network: str, container: str) -> None:
        """Disconnect if connected; a container or network already gone is not an error."""
        self.run("network", "disconnect", "--force", network, container, check=False)

    def network_rm(self: _Runs, name: str) -> None:
        self.run("network", "rm", name, check=False)

    # -- contexts ---------------------------------------------------------------------------------
    def context_create(self: _Runs, name: str, description: str, endpoint: str) -> None:
        """A Docker context named name for the engine at endpoint (replacing one of that name)."""
        self.run("context", "rm", "--force", name, check=False)
        self.run("context", "create", name, "--description", description, "--docker", f"host={endpoint}")

    def context_rm(self: _Runs, name: str) -> None:
        self.run("context", "rm", "--force", name, check=False)

    # -- containers by name -----------------------------------------------------------------------
    def container_names(self: _Runs, label: str, *, running_only: bool = False) -> list[str]:
        """Names of the containers carrying label (KEY or KEY=VALUE), sorted."""
        argv = ["ps", *([] if running_only else ["--all"]), "--filter", f"label={label}", "--format", "{{.Names}}"]
        return sorted(self.run(*argv, check=False).stdout.split())

    def container_exists(self: _Runs, name: str) -> bool:
        return self.run("container", "inspect", name, check=False).returncode == 0

    def remove_containers(self: _Runs, names: Sequence[str]) -> None:
        """Remove containers (running or not) with their anonymous volumes."""
        if names:
            self.run("rm", "--force", "--volumes", *names, check=False)

    def container_addresses(self: _Runs, name: str) -> list[str]:
        """The container's IP addresses, one per network it is attached to."""
        template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        return self.run("container", "inspect", "--format", template, name).stdout.split()

    def containers_inspect(self: _Runs, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The inspect documents of the containers of ids this engine has (others are left out)."""
        if not ids:
            return []
        result = self.run("container", "inspect", *ids, check=False)
        data = json.loads(result.stdout or "[]") if result.stdout.strip().startswith("[") else []
        return [item for item in data if isinstance(item, dict)]

    def exec_attached(self: _Attaches, container: str, argv: Sequence[str], *, tty: bool) -> int:
        """Run argv in a running container, stdin passed on (`echo 'select 1' | ... exec -- dev postgres -- psql`),
        a terminal when tty (stdin is one); its exit code."""
        return self.attached("exec", "--interactive", *(["--tty"] if tty else []), container, *argv)

    # -- volumes as records ----------------------------------------------------------------------
    def volume_create(self: _Runs, name: str, labels: Mapping[str, str]) -> dict[str, str]:
        """Create the named volume unless it exists; return the labels of the volume that now has the
        name. The engine creates a name once: when it already existed, its first creator's labels
        come back, not these (lmsops.targets.lock relies on that)."""
        argv = ["volume", "create"]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}"]
        self.run(*argv, name)
        return volume_labels(self, name) or {}

    def volume_labels(self: _Runs, name: str) -> dict[str, str] | None:
        """The labels of the named volume; None when there is no such volume."""
        return volume_labels(self, name)

    # -- swarm nodes ------------------------------------------------------------------------------
    def node_hostnames(self: _Runs) -> dict[str, str]:
        """Node ID -> hostname, for every node of the swarm this engine manages."""
        lines = self.run("node", "ls", "--format", "{{.ID}} {{.Hostname}}").stdout.splitlines()
        return dict(line.split(" ", 1) for line in lines if " " in line)

    def ready_node_hostnames(self: _Runs) -> dict[str, str]:
        """Node ID -> hostname, for the nodes the swarm sees as Ready (not a node that was lost)."""
        lines = self.run("node", "ls", "--format", "{{.ID}} {{.Status}} {{.Hostname}}").stdout.splitlines()
        rows = [line.split(" ", 2) for line in lines if line.count(" ") >= 2]
        return {node_id: hostname for node_id, status, hostname in rows if status == "Ready"}

    def swarm_node_id(self: _Runs) -> str:
        """The swarm node ID of this engine ('' when it is in no swarm)."""
        return self.run("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()

    def node_address(self: _Runs, node_id: str) -> str:
        return self.run("node", "inspect", "--format", "{{.Status.Addr}}", node_id).stdout.strip()


def volume_labels(runner: _Runs, name: str) -> dict[str, str] | None:
    found = runner.run("volume", "inspect", "--format", "{{json .Labels}}", name, check=False)
    if found.returncode != 0:
        return None
    return dict(json.loads(found.stdout or "null") or {})
