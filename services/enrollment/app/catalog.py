"""The catalog, as the enrollment service sees it: does a course exist, is it published?"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import HTTPException, status
from lms_runtime.http import UpstreamUnavailableError, get_with_retries


@dataclass(frozen=True)
class CatalogClient:
    client: httpx.Client
    attempts: int

    def require_published(self, course_id: int) -> None:
        """Return when the course exists and is published; raise the HTTP error to answer otherwise."""
        try:
            response = get_with_retries(self.client, "catalog", f"/courses/{course_id}", attempts=self.attempts)
        except UpstreamUnavailableError as exc:
            detail = f"{exc}; the enrollment was not recorded, try again later"
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail) from exc
        if response.status_code == status.HTTP_404_NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"course {course_id} does not exist")
        if response.status_code != status.HTTP_200_OK:
            detail = f"catalog answered HTTP {response.status_code}; the enrollment was not recorded"
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail)
        if not response.json().get("published", False):
            raise HTTPException(status.HTTP_409_CONFLICT, f"course {course_id} is not published")

    def ping(self) -> None:
        self.client.get("/healthz").raise_for_status()
