"""`GET /admin/questions`: what users asked and what became of it. With `outcome=refused`, the
questions the docs did not answer, each with the closest pages found: where to write next."""

from __future__ import annotations

from dataclasses import fields
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from service.api.csv_export import csv_response
from service.api.routes.admin import AdminDep
from service.question_log import LoggedQuestion, QuestionLog

router = APIRouter()


@router.get("/admin/questions", dependencies=[AdminDep], response_model=None)
async def export_questions(
    request: Request,
    project: str | None = Query(None, max_length=100),
    outcome: Literal["answered", "refused", "error"] | None = None,
    since: float = Query(0.0, ge=0, description="unix time; only questions from then on"),
    limit: int = Query(1000, ge=1, le=100_000),
    format: Literal["json", "csv"] = "json",
) -> Response | dict[str, object]:
    log: QuestionLog | None = getattr(request.app.state, "questions", None)
    if log is None:
        raise HTTPException(
            404, "the question log is off (QUESTION_LOG=false) or the answer pipeline did not start"
        )
    rows = await run_in_threadpool(log.export, project=project, outcome=outcome, since=since, limit=limit)
    if format == "json":
        return {"questions": rows, "count": len(rows)}
    return csv_response(rows, ["id", *(f.name for f in fields(LoggedQuestion))], "questions.csv")
