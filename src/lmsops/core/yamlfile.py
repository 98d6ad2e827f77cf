"""Loading YAML files into typed models, with errors that name the file and the key."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

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
        raise ConfigError(format_validation_error(display or str(path), exc, model)) from exc


def format_validation_error(source: str, exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """Every problem of a file, one line each; an unknown key with the closest known one (when the model
    is given) and the keys allowed where it stands."""
    count = exc.error_count()
    lines = [f"{source}: {count} problem{'s' if count != 1 else ''}:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")  # our own validators' words, as written
        if error["type"] == "extra_forbidden":
            known = _keys_at(model, error["loc"][:-1]) if model is not None else []
            hint = did_you_mean(str(error["loc"][-1]), known)
            # The wording of the environment files' own reports (lmsops.environments.schema).
            message = (
                f"unknown key{hint}; fix or remove it"
                if hint or not known
                else f"unknown key; known keys: {', '.join(known)}"
            )
        lines.append(f"  - {key}: {message}")
    return "\n".join(lines)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """ " (did you mean 'database'?)" for the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys a model allows at a location of a validation error (through nested models, lists and
    dicts); [] where that cannot be told (a union of models, say)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (list, dict, tuple, set, frozenset):
            current = typing.get_args(current)[-1] if typing.get_args(current) else None
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(field.alias or name for name, field in current.model_fields.items())
    return []


def _unwrap(annotation: Any) -> Any:
    """X from X | None (Optional), the annotation itself otherwise."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation
