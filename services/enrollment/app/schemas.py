"""What the enrollment API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from lms_runtime.api import Id
from pydantic import BaseModel, ConfigDict, StringConstraints

# The body's field and the list's filter alike: a filter that no learner can match is a 422 too.
LearnerId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    learner_id: LearnerId
    course_id: Id


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
