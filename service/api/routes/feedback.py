"""`POST /feedback` (public, from the widget's 👍/👎) and `GET /admin/feedback` (export)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from service.api.csv_export import csv_response
from service.api.routes.admin import AdminDep
from service.api.schemas import ProjectName
from service.feedback import FeedbackRecord, FeedbackStore

router = APIRouter()

FEEDBACK_FILE = "feedback.sqlite3"


class FeedbackCreate(BaseModel):
    project: str = ProjectName
    conversation_id: str = Field(min_length=1, max_length=200)
    rating: Literal["up", "down"]
    turn: int = Field(0, ge=0, le=10_000)
    question: str = Field("", max_length=4000)
    answer: str = Field("", max_length=20_000)
    comment: str = Field("", max_length=2000)
    channel: Literal["widget", "api", "slack", "discord"] = "widget"


class FeedbackPublic(BaseModel):
    ok: bool = True
    id: int


def get_feedback_store(request: Request) -> FeedbackStore:
    """One store per app, opened on first use under OSSQA_DATA_DIR (tests may set their own)."""
    store = getattr(request.app.state, "feedback", None)
    if store is None:
        store = FeedbackStore(request.app.state.settings.ossqa_data_dir / FEEDBACK_FILE)
        request.app.state.feedback = store
    return store  # type: ignore[no-any-return]


@router.post("/feedback", response_model=FeedbackPublic, status_code=201)
async def create_feedback(body: FeedbackCreate, request: Request) -> FeedbackPublic:
    store = get_feedback_store(request)
    saved = await run_in_threadpool(store.add, FeedbackRecord(**body.model_dump()))
    return FeedbackPublic(id=saved.id)


@router.get("/admin/feedback", dependencies=[AdminDep], response_model=None)
async def export_feedback(
    request: Request,
    project: str | None = Query(None, max_length=100),
    since: float = Query(0.0, ge=0, description="unix time; only feedback from then on"),
    format: Literal["json", "csv"] = "json",
) -> Response | dict[str, object]:
    rows = await run_in_threadpool(get_feedback_store(request).export, project=project, since=since)
    if format == "json":
        return {"feedback": rows, "count": len(rows)}
    return csv_response(rows, list(FeedbackRecord.__dataclass_fields__), "feedback.csv")
