"""Fakes for the unit tests of lmsops.data (no tests here): a Docker whose one-off PostgreSQL jobs
answer from a script (the dump's bytes, the job's stderr and exit code) and record what they were
given, a target with recorded status and history, and a resolved model with its secret files."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.environments.config import Environment
from lmsops.environments.model import Model
from lmsops.releases.history import Release
from lmsops.targets.base import ServiceStatus, Target
from lmsops.targets.lock import Holder, LockPolicy
from tests.unit.target_fakes import environment, model

DUMP = b"PGDMP\x00\x01binary\xff\n\r\x00dump"
STDERR = "lms-postgres-backup: server_version=15.20 (Debian 15.20-0+deb12u1)\nlms-postgres-backup: revision=0002_more\n"
DOCUMENT: dict[str, Any] = {
    "services": {
        "postgres": {
            "image": "lmsops/postgres:15-1-abc",
            "networks": {"backend": None},
            "environment": {"POSTGRES_USER": "postgres"},
        },
        "catalog": {"image": "lmsops/catalog:0.1.0-new"},
        "enrollment": {"image": "lmsops/enrollment:0.1.0-new"},
    },
    "secrets": {"postgres-password": {}, "catalog-db-password": {}, "enrollment-db-password": {}},
}


@dataclass
class Job:
    """One one-off container run through run_once_streamed."""

    image: str
    entrypoint: str | None
    env: dict[str, str]
    network: str | None
    options: tuple[str, ...]
    input: bytes

    @property
    def mode(self) -> str:
        """backup, keep, discard, list (lms-postgres-backup); check, restore (lms-postgres-restore)."""
        if self.entrypoint == "lms-postgres-backup":
            return self.env.get("LMS_BACKUP_MODE", "backup")
        return self.env.get("LMS_RESTORE_MODE", "?")

    @property
    def mounts(self) -> list[str]:
        return [self.options[i + 1] for i, option in enumerate(self.options[:-1]) if option == "--volume"]


@dataclass
class Answer:
    returncode: int = 0
    stderr: str = ""
    stdout: bytes = b""


class JobDocker(Docker):
    """Answers run_once_streamed by the job's mode (backup, check, restore); anything else fails the test."""

    def __init__(self) -> None:
        super().__init__("fake-docker")
        self.jobs: list[Job] = []
        self.answers: dict[str, Answer] = {
            "backup": Answer(0, STDERR, DUMP),
            "check": Answer(),
            "restore": Answer(0, "lms-postgres-restore: catalog restored\n"),
        }

    def for_target(self, context: str | None, host: str | None) -> Docker:
        return self

    def require_engine(self) -> str:
        return "20.10.24"

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result:
        raise AssertionError(f"unexpected docker call: {args}")

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
        given = input_bytes + (input_file.read_bytes() if input_file is not None else b"")
        job = Job(image, entrypoint, dict(env or {}), network, tuple(options), given)
        self.jobs.append(job)
        answer = self.answers[job.mode]
        if output is not None:
            output.write(answer.stdout)
        if on_bytes is not None:
            on_bytes(len(answer.stdout) or len(given))
        return proc.Result(["docker", "run"], answer.returncode, "", answer.stderr)


@dataclass
class FakeTarget:
    """What lmsops.data asks of a target: its status, its history, its deploy lock."""

    env: Environment
    engine: Docker
    rows: list[ServiceStatus] = field(default_factory=list)
    releases: list[Release] | None = None  # None: a Compose target (no history)
    locks: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def status(self) -> list[ServiceStatus]:
        return self.rows

    def history(self) -> list[Release]:
        if self.releases is None:
            raise ConfigError(f"{self.env.name} is a Compose environment")
        return self.releases

    @contextmanager
    def locked(self, command: str, policy: LockPolicy, report: Reporter) -> Iterator[Holder]:
        self.locks.append(command)
        yield Holder("me", "here", 1, command, "now", "t")


def as_target(fake: FakeTarget) -> Target:
    """A FakeTarget where a Target is expected (it has only what lmsops.data asks of one)."""
    return cast("Target", fake)


def running(*services: str, revision: str = "abc123def456") -> list[ServiceStatus]:
    return [ServiceStatus(name, 1, 1, "healthy", f"lmsops/{name}:running", revision) for name in services]


def release(seq: int, commit: str) -> Release:
    return Release(seq, "staging", "lms-staging", commit, "cfg", {}, "me", "2026-11-27T10:00:00Z", "", "")


def secrets_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in {
        "postgres-password": "su:per",
        "catalog-db-password": "c",
        "enrollment-db-password": "e",
    }.items():
        (folder / name).write_text(value + "\n")
    return folder


def resolved(project: Repo, tmp_path: Path, env_name: str = "dev", **target: Any) -> Model:
    """A resolved model of env_name (postgres, catalog, enrollment) with its secret files."""
    env = environment(project, env_name, **target)
    made = model(env, DOCUMENT, tmp_path)
    return dataclasses.replace(made, secrets_dir=secrets_folder(tmp_path / "secrets"))


class VolumeDocker(JobDocker):
    """A JobDocker with Docker volumes: their labels (volume create / inspect) and the files of each, which
    the one-off jobs read and write as lms-postgres-backup and lms-postgres-restore do with the volume
    mounted (the contract those scripts document); any other docker call fails the test."""

    def __init__(self) -> None:
        super().__init__()
        self.volumes: dict[str, dict[str, str]] = {}  # name -> labels
        self.files: dict[str, dict[str, bytes]] = {}  # volume -> file name -> bytes
        self.created: list[str] = []
        self.reports_checksum = True  # as lms-postgres-backup does after a dump into the volume

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result:
        if args[:2] == ("volume", "inspect"):
            name = args[-1]
            if name not in self.volumes:
                return proc.Result(["docker", *args], 1, "", f"Error: No such volume: {name}")
            return proc.Result(["docker", *args], 0, json.dumps(self.volumes[name]), "")
        if args[:2] == ("volume", "create"):
            name = args[-1]
            labels = dict(args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "--label")
            self.created.append(name)
            self.volumes.setdefault(name, labels)
            self.files.setdefault(name, {})
            return proc.Result(["docker", *args], 0, name, "")
        return super().run(*args, check=check, input_bytes=input_bytes)

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
        given = dict(env or {})
        job = Job(image, entrypoint, given, network, tuple(options), input_bytes)
        mounted = [mount.split(":")[0] for mount in job.mounts]
        if not mounted:
            return super().run_once_streamed(
                image, env=env, args=args, entrypoint=entrypoint, network=network, options=options, pull=pull,
                input_bytes=input_bytes, input_file=input_file, output=output, on_bytes=on_bytes,
            )  # fmt: skip
        assert input_file is None, "a volume job reads the volume, not a file of this machine"
        self.jobs.append(job)
        files = self.files.setdefault(mounted[0], {})
        backup_id = given.get("LMS_BACKUP_ID", "")
        answer = self.answers.get(job.mode, Answer())
        stdout, stderr = b"", answer.stderr
        if job.mode == "backup" and answer.returncode == 0:
            partial = answer.stdout
            files[f".{backup_id}.dump.partial"] = partial
            stdout = f"{len(partial)}\n".encode()
            if self.reports_checksum:
                stderr += f"lms-postgres-backup: size={len(partial)}\nlms-postgres-backup: sha256={sha256(partial)}\n"
        elif job.mode == "keep" and answer.returncode == 0:
            files[f"{backup_id}.dump"] = files.pop(f".{backup_id}.dump.partial")
            files[f"{backup_id}.json"] = input_bytes
        elif job.mode == "discard":
            files.pop(f".{backup_id}.dump.partial", None)
            files.pop(f".{backup_id}.json.partial", None)
        elif job.mode == "list":
            stdout = b"".join(
                name.encode() + b"\t" + base64.b64encode(data) + b"\n"
                for name, data in sorted(files.items())
                if name.endswith(".json") and not name.startswith(".")
            )
        elif job.mode == "check":
            data = files.get(given["LMS_RESTORE_FILE"])
            if data is None:
                return proc.Result(
                    ["docker", "run"], 3, "", f"lms-postgres-restore: missing={given['LMS_RESTORE_FILE']}\n"
                )
            said = f"lms-postgres-restore: size={len(data)}\nlms-postgres-restore: sha256={sha256(data)}\n"
            if (str(len(data)), sha256(data)) != (given["LMS_RESTORE_SIZE"], given["LMS_RESTORE_SHA256"]):
                return proc.Result(["docker", "run"], 3, "", said)
            stderr = said + stderr
        if output is not None:
            output.write(stdout)
            stdout = b""
        return proc.Result(["docker", "run"], answer.returncode, stdout.decode(), stderr)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
