"""Enroll a learner in a published course, list enrollments by learner or course, withdraw."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from lms_runtime.api import Id, Limit, Offset, errors
from lms_runtime.db import SessionDep
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.catalog import CatalogClient
from app.models import Enrollment
from app.schemas import EnrollmentCreate, EnrollmentOut, EnrollmentPage, LearnerId

router = APIRouter(prefix="/enrollments", tags=["enrollments"])


def _get(session: Session, enrollment_id: int) -> Enrollment:
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"enrollment {enrollment_id} does not exist")
    return enrollment


def _already(body: EnrollmentCreate) -> HTTPException:
    return HTTPException(
        status.HTTP_409_CONFLICT, f"learner {body.learner_id!r} is already enrolled in course {body.course_id}"
    )


# 404: no such course; 409: already enrolled, or the course is not published; 503: the catalog is
# unavailable (nothing recorded).
@router.post("", status_code=status.HTTP_201_CREATED, response_model=EnrollmentOut, responses=errors(404, 409, 503))
def enroll(body: EnrollmentCreate, request: Request, session: SessionDep) -> Enrollment:
    """Checks the catalog first; nothing is written unless the course exists and is published."""
    existing = session.scalar(
        select(Enrollment).where(Enrollment.learner_id == body.learner_id, Enrollment.course_id == body.course_id)
    )
    if existing is not None and existing.status == "active":
        raise _already(body)
    catalog: CatalogClient = request.app.state.catalog
    catalog.require_published(body.course_id)
    if existing is not None:  # withdrawn earlier: enrolled again
        existing.status, existing.enrolled_at, existing.withdrawn_at = "active", datetime.now(UTC), None
        enrollment = existing
    else:
        enrollment = Enrollment(learner_id=body.learner_id, course_id=body.course_id)
        session.add(enrollment)
    try:
        session.commit()
    except IntegrityError as exc:  # the same enrollment, made at the same moment by another replica
        session.rollback()
        raise _already(body) from exc
    return enrollment


@router.get("", response_model=EnrollmentPage)
def list_enrollments(
    session: SessionDep,
    learner_id: LearnerId | None = None,
    course_id: Id | None = None,
    enrollment_status: Annotated[str | None, Query(alias="status", pattern="^(active|withdrawn)$")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> EnrollmentPage:
    query = select(Enrollment)
    if learner_id is not None:
        query = query.where(Enrollment.learner_id == learner_id)
    if course_id is not None:
        query = query.where(Enrollment.course_id == course_id)
    if enrollment_status is not None:
        query = query.where(Enrollment.status == enrollment_status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Enrollment.id).limit(limit).offset(offset))
    items = [EnrollmentOut.model_validate(enrollment) for enrollment in page]
    return EnrollmentPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{enrollment_id}", response_model=EnrollmentOut, responses=errors(404))
def read_enrollment(enrollment_id: Id, session: SessionDep) -> Enrollment:
    return _get(session, enrollment_id)


@router.post("/{enrollment_id}/withdraw", response_model=EnrollmentOut, responses=errors(404, 409))
def withdraw(enrollment_id: Id, session: SessionDep) -> Enrollment:
    enrollment = _get(session, enrollment_id)
    if enrollment.status == "withdrawn":
        raise HTTPException(status.HTTP_409_CONFLICT, f"enrollment {enrollment_id} is already withdrawn")
    enrollment.status, enrollment.withdrawn_at = "withdrawn", datetime.now(UTC)
    session.commit()
    return enrollment
