"""Every error leaves the service as one JSON shape, `error_body()`:
`{"ok": false, "error": "<what was wrong>", "status": <code>}`.

Domain errors map to HTTP in `ERROR_STATUS`; anything unexpected becomes a 500 with a
generic message (the traceback goes to the log, never to the client).

AnswerError
 ├── LLMUnavailable     the model server cannot be reached
 ├── LLMTimeout         generation took longer than LLM_TIMEOUT_S
 └── LLMBadResponse     the server answered with something unusable
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import IngestError, SourceError
from retrieval.errors import BackendUnavailable, IndexNotFound, RetrievalError

log = logging.getLogger("ossqa")


class AnswerError(Exception):
    status = 502


class LLMUnavailable(AnswerError):
    status = 503


class LLMTimeout(AnswerError):
    status = 504


class LLMBadResponse(AnswerError):
    status = 502


class ProjectNotFound(Exception):
    status = 404

    def __init__(self, project: str) -> None:
        super().__init__(f"unknown project {project!r}")
        self.project = project


class ProjectBusy(Exception):
    def __init__(self, project: str) -> None:
        super().__init__(f"an ingest of {project!r} is queued or running; delete the project after it ends")
        self.project = project


ERROR_STATUS: dict[type[Exception], int] = {
    IndexNotFound: 404,
    ProjectNotFound: 404,
    ProjectBusy: 409,
    BackendUnavailable: 503,
    RetrievalError: 500,
    SourceError: 400,
    IngestError: 400,
    LLMUnavailable: 503,
    LLMTimeout: 504,
    LLMBadResponse: 502,
    AnswerError: 502,
}


def error_body(message: str, status: int, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": message, "status": status, **extra}


def status_for(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(_describe_validation(exc), 422), status_code=422)

    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc.detail), exc.status_code),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def domain(_: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status >= 500 and status not in (502, 503, 504):
            log.exception("unexpected error", exc_info=exc)
            return JSONResponse(error_body("internal error", 500), status_code=500)
        return JSONResponse(error_body(str(exc), status), status_code=status)

    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    for cls in (*ERROR_STATUS, Exception):
        app.add_exception_handler(cls, domain)
