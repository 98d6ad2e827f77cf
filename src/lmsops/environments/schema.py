"""env/schema.yaml (+ services/<name>/env.schema.yaml): every variable and secret an environment may set.

Nothing undeclared gets into an environment. A service declares its own entries next to its code,
so a new service brings them with it and env/schema.yaml is not edited.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.yamlfile import load_model
from lmsops.images.versions import Strict

SCHEMA = Path("env") / "schema.yaml"
SERVICE_SCHEMA = "env.schema.yaml"
VariableName = Annotated[str, StringConstraints(pattern=r"^LMS_[A-Z0-9_]+$")]
SecretName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
Value = str | int | float | bool


class VariableSpec(Strict):
    description: str = Field(min_length=1)
    type: Literal["string", "integer", "number", "boolean"] = "string"
    choices: list[Value] | None = None
    pattern: str | None = None
    default: Value | None = None
    services: list[str] = Field(min_length=1, description="who reads it; '*' for every service")

    @property
    def required(self) -> bool:
        return self.default is None


class SecretSpec(Strict):
    description: str = Field(min_length=1)
    services: list[str] = Field(min_length=1)


class Schema(Strict):
    variables: dict[VariableName, VariableSpec] = Field(default_factory=dict)
    secrets: dict[SecretName, SecretSpec] = Field(default_factory=dict)


def load_schema(repo: Repo) -> Schema:
    """The platform's schema merged with every service's own; a name declared twice is an error."""
    path = repo.root / SCHEMA
    merged = load_model(path, Schema, str(SCHEMA))
    variables, secrets = dict(merged.variables), dict(merged.secrets)
    origin = dict.fromkeys([*variables, *secrets], str(SCHEMA))
    for extra in sorted(repo.services.glob(f"*/{SERVICE_SCHEMA}")):
        shown = repo.display(extra)
        part = load_model(extra, Schema, shown)
        for name in [*part.variables, *part.secrets]:
            if name in origin:
                raise ConfigError(f"{shown}: {name} is already declared in {origin[name]}; declare it once")
            origin[name] = shown
        variables |= part.variables
        secrets |= part.secrets
    return Schema(variables=variables, secrets=secrets)


def check_value(name: str, spec: VariableSpec, value: object) -> str | None:
    """What is wrong with a value for this variable, or None."""
    kinds: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
    }
    if (isinstance(value, bool) and spec.type != "boolean") or not isinstance(value, kinds[spec.type]):
        return f"{value!r} is not a {spec.type}"
    if spec.choices is not None and value not in spec.choices:
        return f"{value!r} is not one of {', '.join(map(str, spec.choices))}"
    if spec.pattern is not None and isinstance(value, str) and not re.fullmatch(spec.pattern, value):
        return f"{value!r} does not match {spec.pattern}"
    return None


def as_text(value: Value) -> str:
    """A value as Compose interpolates it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
