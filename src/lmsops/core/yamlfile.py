"""Loading YAML files into typed models, with errors that name the file and the key."""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from lmsops.core.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)

# libyaml's parser (PyYAML's wheels include it) with PyYAML's safe constructor: the same documents
# as yaml.safe_load for about a tenth of the CPU. The pure-Python parser was 15% of the CPU an
# integration run's Python spent (py-spy): commands read the repository's YAML files and parse
# `docker compose config` again and again (docs/performance.md). Dumping stays pure Python: libyaml
# wraps long quoted strings at other places, and a model's text and config hash must not change.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """yaml.safe_load, through libyaml."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (SafeConstructor)


def dump_yaml(data: object, *, sort_keys: bool = True, allow_unicode: bool = False) -> str:
    """yaml.safe_dump in block style (the one way lmsops writes YAML)."""
    return yaml.safe_dump(data, sort_keys=sort_keys, default_flow_style=False, allow_unicode=allow_unicode)


def read_yaml(path: Path, display: str | None = None) -> object:
    """Parse a YAML file; a missing file or a syntax error is a ConfigError naming the file."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{name}: file not found") from exc
    try:
        return parse_yaml(text)
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
    """Every problem of a file, one line each (describe_validation_error), counted."""
    lines = describe_validation_error(exc, model)
    count = f"{len(lines)} problem" + ("s" if len(lines) != 1 else "")
    return f"{source}: {count}:\n" + "\n".join(f"  - {line}" for line in lines)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """ " (did you mean 'database'?)" for the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe_validation_error(exc: ValidationError, model: type[BaseModel] | None) -> list[str]:
    """Pydantic's errors as 'key.path: what is wrong', an unknown key with the closest known one."""
    lines: list[str] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")  # our own validators' words, as written
        if error["type"] == "extra_forbidden":
            known = _keys_at(model, loc[:-1]) if model is not None else []
            hint = did_you_mean(str(loc[-1]), known) or (f"; known keys: {', '.join(known)}" if known else "")
            hint += "; fix or remove it"
            message = f"unknown key{hint}"
        elif error["type"] == "missing":
            message = "required; add it"
        lines.append(f"{key}: {message}")
    return lines


def _keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys a model allows at loc (a dict's keys are skipped over), [] when loc is not a model."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (dict, list, tuple, set, frozenset) and get_args(annotation):
            annotation = get_args(annotation)[-1]  # a dict's key or a list's index: the value's type
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Model | None -> Model; Annotated[X, ...] -> X."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            inner = _unwrap(arg)
            if get_origin(inner) is dict or (isinstance(inner, type) and issubclass(inner, BaseModel)):
                return inner
    return annotation
