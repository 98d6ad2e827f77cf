"""What the catalog's API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lms_runtime.api import INT4_MAX, Text
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$"


class ModuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text = Field(min_length=1, max_length=200)
    summary: Text = Field(default="", max_length=5000)


class ModuleInsert(ModuleIn):
    # 1-based; omitted means "at the end" (as does any position past it).
    position: int | None = Field(default=None, ge=1, le=INT4_MAX)


class ModuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    position: int
    title: str
    summary: str


class CourseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=CODE_PATTERN, description="unique, 2-32 letters, digits, '-' or '_'")
    title: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=5000)
    published: bool = False
    modules: list[ModuleIn] = Field(default_factory=list, max_length=200)


def _no_defaults(schema: dict[str, Any]) -> None:
    for field in schema.get("properties", {}).values():
        field.pop("default", None)  # None is no value a client may send


class CourseUpdate(BaseModel):
    """Only the fields given change. None stands for an omitted field, never a value: the OpenAPI
    says no field is nullable (SkipJsonSchema), and an explicit null is a 422 like any other bad value."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: _no_defaults(schema))
    code: str | SkipJsonSchema[None] = Field(default=None, pattern=CODE_PATTERN)
    title: Text | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=200)
    description: Text | SkipJsonSchema[None] = Field(default=None, max_length=5000)
    published: bool | SkipJsonSchema[None] = None

    @field_validator("*", mode="before")
    @classmethod
    def not_null(cls, value: object) -> object:
        if value is None:  # only what was sent is validated: an omitted field keeps its default
            raise ValueError("cannot be set to null")
        return value


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    title: str
    description: str
    published: bool
    created_at: datetime
    updated_at: datetime
    modules: list[ModuleOut]


class CoursePage(BaseModel):
    items: list[CourseOut]
    total: int
    limit: int
    offset: int
