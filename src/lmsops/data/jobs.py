"""The one-off containers that dump, check and restore a service's database: the environment's own
postgres image (its lms-postgres-backup and lms-postgres-restore) on its backend network, confined
like every database job (lmsops.environments.database_jobs), the superuser's password on standard
input only, the dump streamed between the container and the backup's file, never held in memory."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from lmsops.core.docker import Docker
from lmsops.core.errors import DeployError
from lmsops.core.progress import Reporter, megabytes
from lmsops.environments.database_jobs import (
    JOB_LABEL,
    POSTGRES,
    SUPERUSER_SECRET,
    backend_network,
    hardened,
    not_attachable,
    read_secret,
    superuser,
)
from lmsops.environments.model import Model

POSTGRES_USER = "999:999"
MEMORY = "256m"  # pg_dump / pg_restore stream: their memory does not grow with the database
WAIT_SECONDS = 30  # for a server that is restarting
PROGRESS_EVERY = 5.0  # seconds between two progress lines of a long dump or restore
_META = re.compile(r"^lms-postgres-backup: (server_version|revision)=(.*)$", re.M)


@dataclass(frozen=True)
class Dumped:
    server_version: str
    revision: str | None
    size: int
    seconds: float


class Progress:
    """'catalog: 120.0 MB so far (10.2 s)' at most every PROGRESS_EVERY seconds."""

    def __init__(self, report: Reporter, what: str) -> None:
        self.report, self.what = report, what
        self.started = self.last = time.monotonic()

    def __call__(self, moved: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            self.report.say(f"    {self.what}: {megabytes(moved)} so far ({now - self.started:.1f} s)")

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def postgres_image(model: Model) -> str:
    postgres = (model.document.get("services") or {}).get(POSTGRES)
    if postgres is None:
        raise DeployError(f"{model.env.name}: the model has no {POSTGRES} service; it has no databases to back up")
    return str(postgres["image"])


def _options(job: str) -> tuple[str, ...]:
    return (*hardened(POSTGRES_USER, memory=MEMORY), "--label", f"{JOB_LABEL}={job}")


def _why(model: Model, stderr: str, returncode: int) -> str:
    """One line: what the job said last, or what to do when the image is missing."""
    refused = not_attachable(model, stderr)
    if refused is not None:
        raise refused
    if "Unable to find image" in stderr or "No such image" in stderr:
        return (
            f"the postgres image {postgres_image(model)} is not on the engine and cannot be pulled; "
            f"build it (`nox -s build -- postgres`) or deploy {model.env.name}"
        )
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not _META.match(line.strip())]
    return lines[-1] if lines else f"exit code {returncode}"


def dump_database(docker: Docker, model: Model, database: str, output: Path, report: Reporter) -> Dumped:
    """pg_dump --format=custom of database, streamed into output; DeployError with the job's words."""
    password = read_secret(model, SUPERUSER_SECRET)
    progress = Progress(report, database)
    with output.open("wb") as stream:
        result = docker.run_once_streamed(
            postgres_image(model),
            entrypoint="lms-postgres-backup",
            network=backend_network(model),
            env={
                "LMS_BACKUP_DATABASE": database,
                "POSTGRES_USER": superuser(model),
                "LMS_BACKUP_WAIT": str(WAIT_SECONDS),
            },
            options=_options("backup"),
            pull="missing",
            input_bytes=(password + "\n").encode(),
            output=stream,
            on_bytes=progress,
        )
        size = stream.tell()
    if result.returncode != 0:
        raise DeployError(
            f"{model.env.name}: the backup of the database {database} failed: "
            + _why(model, result.stderr, result.returncode)
        )
    meta = dict(_META.findall(result.stderr))
    if "server_version" not in meta:
        raise DeployError(
            f"{model.env.name}: the backup of {database} did not report its server version; "
            f"is {postgres_image(model)} lmsops's postgres image?"
        )
    return Dumped(meta["server_version"], meta.get("revision") or None, size, progress.seconds)


def check_archive(docker: Docker, model: Model, dump: Path) -> str | None:
    """None when pg_restore reads the whole archive (its table of contents and every data block),
    else why not, in one line."""
    result = docker.run_once_streamed(
        postgres_image(model),
        entrypoint="lms-postgres-restore",
        env={"LMS_RESTORE_MODE": "check"},
        options=(*_options("restore-check"), "--network", "none"),
        pull="missing",
        input_file=dump,
    )
    return None if result.returncode == 0 else _why(model, result.stderr, result.returncode)


def restore_database(docker: Docker, model: Model, database: str, dump: Path, report: Reporter) -> float:
    """Replace database with the dump (lms-postgres-restore: read-only meanwhile, a temporary database,
    then the swap); its role owns what is restored. Returns the seconds it took; DeployError when it
    failed, the database then being unchanged and writable."""
    password = read_secret(model, SUPERUSER_SECRET)
    progress = Progress(report, f"{database} (read)")
    result = docker.run_once_streamed(
        postgres_image(model),
        entrypoint="lms-postgres-restore",
        network=backend_network(model),
        env={
            "LMS_RESTORE_MODE": "restore",
            "LMS_RESTORE_DATABASE": database,
            "LMS_RESTORE_ROLE": database,
            "POSTGRES_USER": superuser(model),
            "LMS_RESTORE_WAIT": str(WAIT_SECONDS),
        },
        options=_options("restore"),
        pull="missing",
        input_bytes=(password + "\n").encode(),
        input_file=dump,
        on_bytes=progress,
    )
    for line in result.stderr.splitlines():
        if line.startswith("lms-postgres-restore: ") and result.returncode == 0:
            report.detail(line)
    if result.returncode != 0:
        raise DeployError(
            f"{model.env.name}: restoring the database {database} failed, it is unchanged: "
            + _why(model, result.stderr, result.returncode)
        )
    return progress.seconds
