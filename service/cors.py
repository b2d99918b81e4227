"""Per-project CORS for the routes a docs-site widget calls.

`ALLOWED_ORIGINS` takes either a plain list for every project, or per-project entries:

    *                                              any site may embed any project
    https://docs.a.org,https://b.dev               these sites, every project
    fastapi=https://fastapi.tiangolo.com|http://localhost:8000;pydantic=*;*=https://hub.example

In the per-project form `*=` sets the default for projects not named (none when absent).

A cross-site request names its project in the query (`?project=`) or in its JSON body. The
preflight can only see the query, so it passes when the origin may use the named project, or
any project when none is named; the real request is then checked against the project it
actually asks about and refused with 403 when that project does not allow the origin. Requests
without an `Origin` header (curl, bots, server to server) and same-origin requests pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body

WIDGET_PREFIXES = ("/ask", "/feedback", "/search", "/projects")
_MAX_PEEK_BYTES = 64 * 1024  # request bodies of these routes are small JSON


@dataclass(frozen=True)
class OriginPolicy:
    default: frozenset[str] = frozenset()  # origins for projects without their own entry
    projects: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> OriginPolicy:
        spec = spec.strip()
        if "=" not in spec:
            return cls(default=_origins(spec, ","))
        default: frozenset[str] = frozenset()
        projects: dict[str, frozenset[str]] = {}
        for entry in filter(None, (e.strip() for e in spec.split(";"))):
            name, _, value = entry.partition("=")
            if not _:
                raise ValueError(f"ALLOWED_ORIGINS entry {entry!r} is not name=origin|origin")
            origins = _origins(value, "|")
            if name.strip() == "*":
                default = origins
            else:
                projects[name.strip()] = origins
        return cls(default=default, projects=projects)

    def allows(self, origin: str, project: str | None) -> bool:
        """May a page on `origin` use `project` (None: any project)?"""
        if project is None:
            sets = [self.default, *self.projects.values()]
            return any(_match(origin, s) for s in sets)
        return _match(origin, self.projects.get(project, self.default))


def _origins(value: str, sep: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in value.split(sep) if o.strip())


def _match(origin: str, allowed: frozenset[str]) -> bool:
    return "*" in allowed or origin in allowed


class ProjectCORSMiddleware:
    """CORS headers (and the per-project check) for `prefixes`; other routes get no CORS
    headers at all, so browsers keep other sites away from admin and bot endpoints."""

    def __init__(
        self, app: ASGIApp, *, policy: OriginPolicy, prefixes: tuple[str, ...] = WIDGET_PREFIXES
    ) -> None:
        self.app = app
        self.policy = policy
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin", "").rstrip("/")
        if not origin or _same_origin(origin, scope, headers):
            await self.app(scope, receive, send)
            return
        query_project = _query_project(scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, query_project, headers, send)
            return
        try:
            project, receive = await _body_project(scope, receive, query_project)
        except _BodyTooLarge:
            await _send_json(send, 413, error_body("request body too large", 413))
            return
        if not self.policy.allows(origin, project):
            what = f"project {project!r}" if project else "this service"
            await _send_json(send, 403, error_body(f"origin {origin} may not use {what}", 403))
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                raw += [(k.encode(), v.encode()) for k, v in _cors_headers(origin).items()]
                raw.append((b"access-control-expose-headers", b"Retry-After"))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, project: str | None, headers: Headers, send: Send) -> None:
        if not self.policy.allows(origin, project):
            what = f"project {project!r}" if project else "this service"
            await _send_json(send, 403, error_body(f"origin {origin} may not use {what}", 403))
            return
        extra = {
            "access-control-allow-methods": "GET, POST, OPTIONS",
            "access-control-allow-headers": headers.get("access-control-request-headers", "content-type"),
            "access-control-max-age": "600",
        }
        await _send_json(send, 204, None, {**_cors_headers(origin), **extra})


def _cors_headers(origin: str) -> dict[str, str]:
    # The widget sends no cookies or secrets, so credentials stay off.
    return {"access-control-allow-origin": origin, "vary": "Origin"}


def _same_origin(origin: str, scope: Scope, headers: Headers) -> bool:
    host = headers.get("host", "")
    return bool(host) and origin == f"{scope.get('scheme', 'http')}://{host}"


def _query_project(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("project")
    if values:
        return values[0]
    parts = scope["path"].strip("/").split("/")
    if parts[0] == "projects" and len(parts) > 1:
        return parts[1]
    return None


class _BodyTooLarge(Exception):
    pass


async def _body_project(
    scope: Scope, receive: Receive, query_project: str | None
) -> tuple[str | None, Receive]:
    """The project a JSON body names (it wins over the query: it is what the route serves).
    Returns a `receive` that replays the body for the app."""
    if scope["method"] not in ("POST", "PUT", "PATCH"):
        return query_project, receive
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
        if size > _MAX_PEEK_BYTES:
            # Unread, the project could hide past the peek: refuse rather than guess.
            raise _BodyTooLarge
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    project = query_project
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("project"), str):
        project = data["project"]
    return project, replay


async def _send_json(send: Send, status: int, body: object, headers: dict[str, str] | None = None) -> None:
    raw = b"" if body is None else json.dumps(body).encode()
    hdrs = [(b"content-length", str(len(raw)).encode())]
    if body is not None:
        hdrs.append((b"content-type", b"application/json"))
    hdrs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})
