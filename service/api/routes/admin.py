"""Admin routes: need OSSQA_ADMIN_KEY (or the local token `ossqa serve` writes for the CLI)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi import Path as PathParam

from ingest.types import PROJECT_MAX_CHARS, PROJECT_PATTERN
from service.api.schemas import (
    IngestJobCreate,
    IngestJobPublic,
    ProjectDeletedPublic,
    RefusalThresholdPublic,
    RefusalThresholdSet,
)
from service.errors import ProjectNotFound

router = APIRouter(prefix="/admin")


def require_admin(request: Request, authorization: Annotated[str, Header()] = "") -> None:
    keys = [
        k
        for k in (request.app.state.settings.ossqa_admin_key, getattr(request.app.state, "local_token", ""))
        if k
    ]
    if not keys:
        raise HTTPException(403, "admin routes are disabled: set OSSQA_ADMIN_KEY")
    given = authorization.removeprefix("Bearer ").strip()
    if not given or not any(hmac.compare_digest(given, k) for k in keys):
        raise HTTPException(401, "missing or wrong admin key (Authorization: Bearer <OSSQA_ADMIN_KEY>)")


AdminDep = Depends(require_admin)


@router.post("/ingest", response_model=IngestJobPublic, status_code=202, dependencies=[AdminDep])
def create_ingest_job(body: IngestJobCreate, request: Request) -> IngestJobPublic:
    if not body.path and not body.discussions:
        raise HTTPException(422, "give `path` (a docs folder) and/or `discussions` (an export file)")
    for value in (body.path, body.discussions):
        if value and not Path(value).exists():
            raise HTTPException(400, f"{value} does not exist on the server")
    return request.app.state.jobs.submit(body)  # type: ignore[no-any-return]


@router.get("/ingest/{job_id}", response_model=IngestJobPublic, dependencies=[AdminDep])
def get_ingest_job(job_id: str, request: Request) -> IngestJobPublic:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no ingest job {job_id}")
    return job  # type: ignore[no-any-return]


@router.delete("/projects/{project}", response_model=ProjectDeletedPublic, dependencies=[AdminDep])
def delete_project(
    project: Annotated[str, PathParam(max_length=PROJECT_MAX_CHARS, pattern=PROJECT_PATTERN)],
    request: Request,
) -> ProjectDeletedPublic:
    """Remove the project's chunks and trained reranker (conversations, feedback and the
    question log stay)."""
    deleted = request.app.state.jobs.delete_project(project)
    if deleted is None:
        raise ProjectNotFound(project)
    return ProjectDeletedPublic(
        project=project, chunks_deleted=deleted.chunks, reranker_deleted=deleted.reranker
    )


@router.put(
    "/projects/{project}/refusal-threshold", response_model=RefusalThresholdPublic, dependencies=[AdminDep]
)
def set_refusal_threshold(
    project: Annotated[str, PathParam(max_length=PROJECT_MAX_CHARS, pattern=PROJECT_PATTERN)],
    body: RefusalThresholdSet,
    request: Request,
) -> RefusalThresholdPublic:
    """This project's refusal threshold, over REFUSAL_THRESHOLD and the defaults; it applies to
    the next question (GET /projects/P shows it, with the refused questions to judge it by)."""
    if request.app.state.components.store.count(project) == 0:
        raise ProjectNotFound(project)
    thresholds = getattr(request.app.state, "project_thresholds", None)
    if thresholds is None:
        raise HTTPException(503, "answers are not available: the answer pipeline did not start")
    previous = thresholds.set(project, body.threshold)
    return RefusalThresholdPublic(project=project, threshold=body.threshold, previous=previous)
