"""What the catalog's API accepts and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$"


class ModuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(default="", max_length=5000)


class ModuleInsert(ModuleIn):
    # 1-based; omitted means "at the end".
    position: int | None = Field(default=None, ge=1)


class ModuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    position: int
    title: str
    summary: str


class CourseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=CODE_PATTERN, description="unique, 2-32 letters, digits, '-' or '_'")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    published: bool = False
    modules: list[ModuleIn] = Field(default_factory=list, max_length=200)


class CourseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    published: bool | None = None


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
