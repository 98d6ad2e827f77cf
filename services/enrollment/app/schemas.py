"""What the enrollment API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    learner_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
    course_id: int = Field(ge=1)


class EnrollmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    learner_id: str
    course_id: int
    status: Literal["active", "withdrawn"]
    enrolled_at: datetime
    withdrawn_at: datetime | None


class EnrollmentPage(BaseModel):
    items: list[EnrollmentOut]
    total: int
    limit: int
    offset: int
