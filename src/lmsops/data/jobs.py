"""The one-off containers that dump, check and restore a service's database: the environment's own
postgres image (its lms-postgres-backup and lms-postgres-restore) on its backend network, confined
like every database job (lmsops.environments.database_jobs), the superuser's password on standard
input only. For a folder store the dump is streamed between the container and the backup's file,
never held in memory; for a volume store (lmsops.data.store.BackupVolume) it never leaves the
engine: the jobs mount the volume and read and write the dump there, and report its size and sha256."""

from __future__ import annotations

import base64
import binascii
import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError, DeployError
from lmsops.core.progress import Reporter, megabytes
from lmsops.environments.database_jobs import (
    JOB_LABEL,
    POSTGRES,
    SUPERUSER_SECRET,
    backend_network,
    hardened,
    not_attachable,
    pull_policy,
    read_secret,
    superuser,
)
from lmsops.environments.model import Model

POSTGRES_USER = "999:999"
MEMORY = "256m"  # pg_dump / pg_restore stream: their memory does not grow with the database
WAIT_SECONDS = 30  # for a server that is restarting
PROGRESS_EVERY = 5.0  # seconds between two progress lines of a long dump or restore
_META = re.compile(r"^lms-postgres-(?:backup|restore): (server_version|revision|size|sha256|missing)=(.*)$", re.M)
# Where every job mounts a backups volume: the image's one folder owned by postgres (uid 999) with mode
# 0700. Docker gives an empty volume the owner and mode of the folder it is first mounted on, so
# the jobs (uid 999, no capabilities) write it and nobody else reads it. No server runs in these jobs.
BACKUPS_DIR = "/var/lib/postgresql/data"


@dataclass(frozen=True)
class Dumped:
    server_version: str
    revision: str | None
    size: int
    seconds: float
    sha256: str = ""  # of the dump, computed where it was written (the store's take); "" until then


class Counted(io.BytesIO):
    """A job's standard output made of byte counts, one a line (a volume job's progress): each count
    goes to on_bytes; nothing is kept."""

    def __init__(self, on_bytes: Progress) -> None:
        super().__init__()
        self.on_bytes, self.rest = on_bytes, b""

    def write(self, data: bytes | bytearray | memoryview, /) -> int:  # type: ignore[override]
        lines = (self.rest + bytes(data)).split(b"\n")
        self.rest = lines.pop()
        counts = [int(line) for line in lines if line.strip().isdigit()]
        if counts:
            self.on_bytes(counts[-1])
        return len(data)


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


def _options(job: str, volume: str | None = None) -> tuple[str, ...]:
    mount = ("--volume", f"{volume}:{BACKUPS_DIR}") if volume is not None else ()
    return (*hardened(POSTGRES_USER, memory=MEMORY), "--label", f"{JOB_LABEL}={job}", *mount)


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


def _dump_env(model: Model, database: str) -> dict[str, str]:
    return {"LMS_BACKUP_DATABASE": database, "POSTGRES_USER": superuser(model), "LMS_BACKUP_WAIT": str(WAIT_SECONDS)}


def dump_database(docker: Docker, model: Model, database: str, output: Path, report: Reporter) -> Dumped:
    """pg_dump --format=custom of database, streamed into output; DeployError with the job's words."""
    password = read_secret(model, SUPERUSER_SECRET)
    progress = Progress(report, database)
    with output.open("wb") as stream:
        result = docker.run_once_streamed(
            postgres_image(model),
            entrypoint="lms-postgres-backup",
            network=backend_network(model),
            env=_dump_env(model, database),
            options=_options("backup"),
            pull=pull_policy(postgres_image(model)),
            input_bytes=(password + "\n").encode(),
            output=stream,
            on_bytes=progress,
        )
        size = stream.tell()
    return _dumped(model, database, result, size, progress)


def dump_into_volume(
    docker: Docker, model: Model, database: str, volume: str, backup_id: str, report: Reporter
) -> Dumped:
    """pg_dump --format=custom of database into the volume as .<backup_id>.dump.partial (removed by the
    job when it fails), its size and sha256 computed there; DeployError with the job's words."""
    password = read_secret(model, SUPERUSER_SECRET)
    progress = Progress(report, database)
    result = docker.run_once_streamed(
        postgres_image(model),
        entrypoint="lms-postgres-backup",
        network=backend_network(model),
        env={**_dump_env(model, database), "LMS_BACKUP_ID": backup_id, "LMS_BACKUPS_DIR": BACKUPS_DIR},
        options=_options("backup", volume),
        pull=pull_policy(postgres_image(model)),
        input_bytes=(password + "\n").encode(),
        output=Counted(progress),
    )
    dumped = _dumped(model, database, result, 0, progress)
    meta = dict(_META.findall(result.stderr))
    if not meta.get("size", "").isdigit() or not re.fullmatch(r"[0-9a-f]{64}", meta.get("sha256", "")):
        raise DeployError(
            f"{model.env.name}: the backup of {database} did not report its size and sha256; "
            f"is {postgres_image(model)} a postgres image of this lmsops (`nox -s build -- postgres`)?"
        )
    return Dumped(dumped.server_version, dumped.revision, int(meta["size"]), dumped.seconds, meta["sha256"])


def _dumped(model: Model, database: str, result: proc.Result, size: int, progress: Progress) -> Dumped:
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
        pull=pull_policy(postgres_image(model)),
        input_file=dump,
    )
    return None if result.returncode == 0 else _why(model, result.stderr, result.returncode)


def restore_database(docker: Docker, model: Model, database: str, dump: Path, report: Reporter) -> float:
    """Replace database with the dump (lms-postgres-restore: read-only meanwhile, a temporary database,
    then the swap); its role owns what is restored. Returns the seconds it took; DeployError when it
    failed, the database then being unchanged and writable."""
    return _restore(docker, model, database, report, dump=dump)


def _restore(
    docker: Docker,
    model: Model,
    database: str,
    report: Reporter,
    *,
    dump: Path | None = None,
    volume: str | None = None,
    file: str = "",
) -> float:
    password = read_secret(model, SUPERUSER_SECRET)
    progress = Progress(report, f"{database} (read)")
    env: Mapping[str, str] = {
        "LMS_RESTORE_MODE": "restore",
        "LMS_RESTORE_DATABASE": database,
        "LMS_RESTORE_ROLE": database,
        "POSTGRES_USER": superuser(model),
        "LMS_RESTORE_WAIT": str(WAIT_SECONDS),
    }
    if volume is not None:
        env = {**env, "LMS_RESTORE_FILE": file, "LMS_BACKUPS_DIR": BACKUPS_DIR}
    result = docker.run_once_streamed(
        postgres_image(model),
        entrypoint="lms-postgres-restore",
        network=backend_network(model),
        env=env,
        options=_options("restore", volume),
        pull=pull_policy(postgres_image(model)),
        input_bytes=(password + "\n").encode(),
        input_file=dump,
        on_bytes=progress if dump is not None else None,
        output=Counted(progress) if volume is not None else None,
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


# -- the backups volume's own files (lmsops.data.store.BackupVolume) ---------------------------------------
def volume_job(
    docker: Docker, model: Model, volume: str, mode: str, backup_id: str = "", text: str = ""
) -> proc.Result:
    """lms-postgres-backup's keep, discard or list on the volume, in a container without a network;
    text goes on its standard input (a manifest). The result is returned, not checked."""
    env = {"LMS_BACKUP_MODE": mode, "LMS_BACKUPS_DIR": BACKUPS_DIR, "LMS_BACKUP_ID": backup_id}
    return docker.run_once_streamed(
        postgres_image(model),
        entrypoint="lms-postgres-backup",
        env={key: value for key, value in env.items() if value},
        options=(*_options(f"backups-{mode}", volume), "--network", "none"),
        pull=pull_policy(postgres_image(model)),
        input_bytes=text.encode(),
    )


def read_volume(docker: Docker, model: Model, volume: str) -> dict[str, bytes]:
    """Each manifest file of the volume (name -> its bytes), read in one job."""
    result = volume_job(docker, model, volume, "list")
    if result.returncode != 0:
        raise DeployError(
            f"{model.env.name}: reading the backups volume {volume} failed: "
            + _why(model, result.stderr, result.returncode)
        )
    files: dict[str, bytes] = {}
    for line in result.stdout.splitlines():
        name, _, encoded = line.partition("\t")
        try:
            files[name] = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            files[name] = b""  # unreadable: listed as such
    return files


def check_in_volume(
    docker: Docker, model: Model, volume: str, file: str, size: int, sha256: str, shown: str
) -> str | None:
    """The dump file of the volume is there, of that size and sha256 (else a ConfigError as a folder's
    check words it), and pg_restore reads the whole archive: None, else why not, in one line."""
    result = docker.run_once_streamed(
        postgres_image(model),
        entrypoint="lms-postgres-restore",
        env={
            "LMS_RESTORE_MODE": "check",
            "LMS_RESTORE_FILE": file,
            "LMS_BACKUPS_DIR": BACKUPS_DIR,
            "LMS_RESTORE_SIZE": str(size),
            "LMS_RESTORE_SHA256": sha256,
        },
        options=(*_options("restore-check", volume), "--network", "none"),
        pull=pull_policy(postgres_image(model)),
    )
    if result.returncode == 0:
        return None
    meta = dict(_META.findall(result.stderr))
    if "missing" in meta:
        raise ConfigError(f"{shown}: its dump {file} is missing from the volume {volume}; refused")
    found = meta.get("size")
    if found is not None and found.isdigit() and int(found) != size:
        kind = "truncated" if int(found) < size else "longer than it was"
        raise ConfigError(f"{shown}: the dump is {kind} ({found} bytes, the manifest says {size}); refused")
    if meta.get("sha256", sha256) != sha256:
        raise ConfigError(f"{shown}: the dump is corrupt (its sha256 differs from the manifest's); refused")
    return _why(model, result.stderr, result.returncode)


def restore_from_volume(docker: Docker, model: Model, database: str, volume: str, file: str, report: Reporter) -> float:
    """restore_database with the dump read from the volume's file, where it is (nothing is copied)."""
    return _restore(docker, model, database, report, volume=volume, file=file)
