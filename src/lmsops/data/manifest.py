"""A backup's manifest: the JSON file beside its dump that says what the dump is, where and when it
was taken, and how to recognise it intact (sha256 and size). A dump without one is never restored."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import ValidationError

from lmsops.core.errors import ConfigError
from lmsops.images.versions import Strict

FORMAT: Final = "lmsops-backup"
FORMAT_VERSION: Final = 1
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".json"
_CHUNK = 1 << 20


class Manifest(Strict):
    """Written once, when the dump is complete and checksummed; read before any restore."""

    format: Literal["lmsops-backup"] = FORMAT
    format_version: Literal[1] = FORMAT_VERSION
    id: str
    env: str
    target: str  # the Compose project or Swarm stack it was taken from (lms-dev, lms-staging-it, ...)
    service: str
    database: str
    file: str  # the dump's file name, beside the manifest
    dump_format: Literal["pg_dump --format=custom"] = "pg_dump --format=custom"
    size: int
    sha256: str
    taken_at: str  # UTC, ISO 8601, when the dump started
    seconds: float  # how long the dump took
    commit: str | None  # the commit of the release (Swarm) or of the running image (Compose)
    release: int | None  # the Swarm release number; Compose keeps no release history
    revision: str | None  # the database's Alembic revision (alembic_version); None when it has none
    server_version: str
    postgres_image: str  # the image whose pg_dump made it
    lmsops_version: str

    def line(self) -> str:
        return f"{self.id} ({self.service}, {self.taken_at}, {self.size} bytes)"


def size_text(size: int) -> str:
    """12.3 kB, 4.5 MB: a dump's size as progress lines and the listing show it."""
    return f"{size / 1000:.1f} kB" if size < 1_000_000 else f"{size / 1_000_000:.1f} MB"


def backup_id(service: str, at: datetime) -> str:
    """<service>-<UTC time to the millisecond>: sorts by time within a service, never reused."""
    return f"{service}-{at.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}{at.microsecond // 1000:03d}Z"


def utc_iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def encode(manifest: Manifest) -> str:
    """One line of JSON (a volume store lists manifests by concatenating them)."""
    return json.dumps(manifest.model_dump(), sort_keys=True) + "\n"


def decode(text: str, shown: str) -> Manifest:
    """A manifest from its JSON, or a ConfigError naming the file and what is wrong with it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{shown}: not an lmsops backup manifest (not JSON: {exc.msg}); refused") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f'{shown}: not an lmsops backup manifest (no "format": "{FORMAT}"); refused')
    if data.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{shown}: backup format version {data.get('format_version')!r}; this lmsops reads version "
            f"{FORMAT_VERSION}; refused"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise ConfigError(f"{shown}: invalid backup manifest: {where}: {first['msg']}; refused") from exc
