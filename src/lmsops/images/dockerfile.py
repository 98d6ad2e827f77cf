"""Reading what a Dockerfile builds FROM, so the dependency graph comes from the files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lmsops.core.errors import ConfigError

_FROM = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?(?P<ref>\S+)(?:\s+AS\s+(?P<stage>\S+))?\s*$", re.I)
_ARG_REF = re.compile(r"^\$\{?(?P<arg>[A-Z][A-Z0-9_]*_IMAGE)\}?$")
_ARG_DECL = re.compile(r"^ARG\s+(?P<arg>[A-Za-z_][A-Za-z0-9_]*)(?P<default>=.*)?$", re.I)


@dataclass(frozen=True)
class FromLine:
    line: int
    ref: str
    stage: str | None


@dataclass(frozen=True)
class BaseUse:
    """A Dockerfile's use of a base image through a build argument."""

    line: int
    build_arg: str


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions with their first line number; continuations joined, comments dropped."""
    result: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        result.append((start, (pending + stripped).strip()))
        pending = ""
    if pending:
        result.append((start, pending.strip()))
    return result


def base_uses(path: Path, display: str) -> list[BaseUse]:
    """The base-image build args a Dockerfile builds FROM; a literal image is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{display}: file not found") from exc
    declared_before_from: dict[str, bool] = {}
    stages: set[str] = set()
    uses: list[BaseUse] = []
    seen_from = False
    for number, instruction in logical_lines(text):
        arg = _ARG_DECL.match(instruction)
        if arg and not seen_from:
            declared_before_from[arg["arg"]] = arg["default"] is not None
            continue
        match = _FROM.match(instruction)
        if not match:
            continue
        seen_from = True
        ref, stage = match["ref"], match["stage"]
        # A stage of this same Dockerfile, or the empty image, is not a base.
        if ref.lower() not in stages and ref != "scratch":
            uses.append(_base_use(display, number, ref, declared_before_from))
        if stage:
            stages.add(stage.lower())
    if not uses:
        raise ConfigError(f"{display}: no FROM instruction names a base image")
    return uses


def _base_use(display: str, number: int, ref: str, declared: dict[str, bool]) -> BaseUse:
    where = f"{display}:{number}"
    found = _ARG_REF.match(ref)
    if not found:
        raise ConfigError(
            f"{where}: FROM {ref} names an image directly. Declare `ARG <NAME>_IMAGE` before the "
            f"first FROM and write `FROM ${{<NAME>_IMAGE}}`, so base-images/versions.yaml stays "
            "the single source of truth for base images"
        )
    arg = found["arg"]
    if arg not in declared:
        raise ConfigError(f"{where}: FROM uses ${{{arg}}} but `ARG {arg}` is not declared before the first FROM")
    if declared[arg]:
        raise ConfigError(
            f"{where}: `ARG {arg}` has a default value; remove it: lmsops fills {arg} from base-images/versions.yaml"
        )
    return BaseUse(number, arg)


def copied_sources(path: Path) -> list[str]:
    """Context paths a Dockerfile COPYs or ADDs (not from other stages): what its image is made of."""
    sources: list[str] = []
    for _number, instruction in logical_lines(path.read_text(encoding="utf-8")):
        words = instruction.split()
        if not words or words[0].upper() not in {"COPY", "ADD"}:
            continue
        args = [word for word in words[1:] if not word.startswith("--")]
        if any(word.startswith("--from=") for word in words[1:]) or len(args) < 2:
            continue
        sources += args[:-1]
    return sources
