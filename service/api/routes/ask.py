"""POST /ask: a grounded answer with citations, or an honest refusal with the closest links.

JSON by default; `stream: true` answers with Server-Sent Events:
    event: token   data: {"text": "..."}             (repeated, as the model writes)
    event: final   data: {answer, refused, confidence, citations, closest, conversation_id, error}
The final `answer` has its [n] markers repaired and may differ from the concatenated tokens.
A client that disconnects cancels generation. An LLM failure is a JSON error (503/504/502)
that still carries the retrieved citations.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from service.answer import answer_dict
from service.api.schemas import MAX_QUERY_CHARS, ProjectName
from service.errors import error_body
from service.types import AnswererProtocol

router = APIRouter()


class AskRequest(BaseModel):
    project: str = ProjectName
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    conversation_id: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    stream: bool = False
    channel: Literal["api", "widget"] = Field(
        "api", description="who asks: the widget says so (question log)"
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty or whitespace")
        return v


class CitationPublic(BaseModel):
    n: int
    path: str
    url: str
    title: str
    quote: str


class AskResponse(BaseModel):
    answer: str
    refused: bool
    confidence: float
    citations: list[CitationPublic]
    closest: list[CitationPublic] = []
    conversation_id: str
    timings_ms: dict[str, float] = {}


def _answerer(request: Request) -> AnswererProtocol:
    answerer = getattr(request.app.state, "answerer", None)
    if answerer is None:
        from service.errors import LLMUnavailable

        raise LLMUnavailable("answers are not available: the answer pipeline did not start")
    return answerer  # type: ignore[no-any-return]


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/ask", response_model=AskResponse, responses={503: {}, 504: {}, 502: {}})
async def ask(body: AskRequest, request: Request) -> Any:
    answerer = _answerer(request)
    if body.stream:
        # Retrieval errors (unknown project, store down) must still be plain JSON errors:
        # pull the first event before the 200 and the SSE headers go out.
        events = answerer.stream(
            body.project, body.question, conversation_id=body.conversation_id, channel=body.channel
        )
        first = await anext(aiter(events))
        return StreamingResponse(
            _stream(request, first, events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = await answerer.ask(
        body.project, body.question, conversation_id=body.conversation_id, channel=body.channel
    )
    data = answer_dict(answer)
    if answer.error:
        status = int(answer.timings_ms.get("error_status", 502))
        extra = {k: data[k] for k in ("citations", "closest", "conversation_id", "confidence")}
        return JSONResponse(error_body(answer.error, status, **extra), status_code=status)
    data.pop("error")
    return data


async def _stream(
    request: Request, first: dict[str, Any], events: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[str]:
    try:
        event: dict[str, Any] | None = first
        while event is not None:
            kind = event.pop("type")
            if kind == "final" and event.get("error"):
                status = int(event.get("timings_ms", {}).get("error_status", 502))
                event = {**error_body(event["error"], status), **event}
            yield _sse(kind, event)
            if kind == "final" or await request.is_disconnected():
                break
            event = await anext(events, None)
    finally:
        await events.aclose()  # type: ignore[attr-defined]  # stops the model on disconnect
