"""Loading YAML files into typed models, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lmsops.core.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


def read_yaml(path: Path, display: str | None = None) -> object:
    """Parse a YAML file; a missing file or a syntax error is a ConfigError naming the file."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{name}: file not found") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{name}:{where}: invalid YAML: {problem}") from exc


def load_model(path: Path, model: type[Model], display: str | None = None) -> Model:
    """Validate a YAML file against a pydantic model; report every problem at once."""
    data = read_yaml(path, display)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(display or str(path), exc)) from exc


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: {exc.error_count()} problem(s):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")  # our own validators' words, as written
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; extra keys are not allowed)"
        lines.append(f"  - {key}: {message}")
    return "\n".join(lines)
