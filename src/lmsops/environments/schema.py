"""env/schema.yaml (+ services/<name>/env.schema.yaml): every variable and secret an environment may set.

Nothing undeclared gets into an environment. A service declares its own entries next to its code,
so a new service brings them with it and env/schema.yaml is not edited. The schema itself is held
to the same standard as what it checks: a pattern that is not a regular expression, a choice or a
default of the wrong type, a default outside its own choices are errors naming the key, all of them
in one report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationError, model_validator

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.yamlfile import describe_validation_error, did_you_mean, read_yaml
from lmsops.images.versions import Strict

SCHEMA = Path("env") / "schema.yaml"
SERVICE_SCHEMA = "env.schema.yaml"
VariableName = Annotated[str, StringConstraints(pattern=r"^LMS_[A-Z0-9_]+$")]
SecretName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
Value = str | int | float | bool
Type = Literal["string", "integer", "number", "boolean"]
_KINDS: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}
_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean (true or false)"}


class VariableSpec(Strict):
    description: str = Field(min_length=1)
    type: Type = "string"
    choices: list[Value] | None = None
    pattern: str | None = None
    default: Value | None = None
    services: list[str] = Field(min_length=1, description="who reads it; '*' for every service")

    @property
    def required(self) -> bool:
        return self.default is None

    @model_validator(mode="after")
    def _consistent(self) -> VariableSpec:
        """The schema's own values obey the schema: what a default or a choice could not be in an
        environment file, it may not be here either."""
        problems: list[str] = []
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                problems.append(f"pattern {self.pattern!r} is not a valid regular expression ({exc}); fix it")
            if self.type != "string":
                problems.append(f"pattern applies to strings only, and this variable is {_NAMES[self.type]}")
        if self.choices is not None:
            if not self.choices:
                problems.append("choices is empty; list the allowed values or remove it")
            problems += [
                f"choice {choice!r} is not {_NAMES[self.type]}; fix the choice or the type"
                for choice in self.choices
                if not is_type(self.type, choice)
            ]
        if self.default is not None and not problems and (wrong := check_value(self, self.default)) is not None:
            problems.append(f"default {wrong}; change the default")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SecretSpec(Strict):
    description: str = Field(min_length=1)
    services: list[str] = Field(min_length=1)


class Schema(Strict):
    variables: dict[VariableName, VariableSpec] = Field(default_factory=dict)
    secrets: dict[SecretName, SecretSpec] = Field(default_factory=dict)


def load_schema(repo: Repo) -> Schema:
    """The platform's schema merged with every service's own; every problem of every file in one
    ConfigError (a name declared twice included)."""
    reports: list[str] = []
    variables: dict[str, VariableSpec] = {}
    secrets: dict[str, SecretSpec] = {}
    origin: dict[str, str] = {}
    files = [(repo.root / SCHEMA, str(SCHEMA))]
    files += [(path, repo.display(path)) for path in sorted(repo.services.glob(f"*/{SERVICE_SCHEMA}"))]
    for path, shown in files:
        try:
            raw = read_yaml(path, shown)
        except ConfigError as exc:
            reports.append(str(exc))
            continue
        problems: list[str] = []
        for name in _declared_names(raw):  # also of a file that is invalid otherwise
            if name in origin:
                problems.append(f"{name} is already declared in {origin[name]}; declare it once")
            origin.setdefault(name, shown)
        try:
            part = Schema.model_validate({} if raw is None else raw)
        except ValidationError as exc:
            problems = describe_validation_error(exc, Schema) + problems
        else:
            variables |= part.variables
            secrets |= part.secrets
        if problems:
            reports.append(report(shown, problems))
    if reports:
        raise ConfigError("\n".join(reports))
    return Schema(variables=variables, secrets=secrets)


def _declared_names(raw: object) -> list[str]:
    sections = [raw.get(key) for key in ("variables", "secrets")] if isinstance(raw, dict) else []
    return [str(name) for section in sections if isinstance(section, dict) for name in section]


def is_type(kind: str, value: object) -> bool:
    """Is value of the schema type kind? (YAML's true is not an integer.)"""
    return isinstance(value, _KINDS[kind]) and (kind == "boolean" or not isinstance(value, bool))


def check_value(spec: VariableSpec, value: object) -> str | None:
    """What is wrong with a value for this variable ("'x' is not an integer"), or None."""
    if value is None:
        return "has no value; give one, or remove the key to take the default"
    if not is_type(spec.type, value):
        return f"{value!r} is not {_NAMES[spec.type]}"
    if spec.choices is not None and value not in spec.choices:
        choices = [str(choice) for choice in spec.choices]
        return f"{value!r} is not one of {', '.join(choices)}{did_you_mean(str(value), choices)}"
    if spec.pattern is not None and isinstance(value, str) and not re.fullmatch(spec.pattern, value):
        return f"{value!r} does not match the pattern {spec.pattern}"
    return None


def as_text(value: Value) -> str:
    """A value as Compose interpolates it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def report(shown: str, problems: list[str]) -> str:
    """One file's problems, one per line, counted."""
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return f"{shown}: {count}:\n" + "\n".join(f"  - {p}" for p in problems)
