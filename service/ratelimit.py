"""Per-client rate limiting for the public routes (`/ask`, `/search`, `/feedback`).

A token bucket per client address: `RATE_LIMIT_PER_MIN` requests burst, refilled evenly over a
minute. Over the limit the client gets `429` with `Retry-After` (seconds until one token is back)
in the usual error body. `RATE_LIMIT_PER_MIN=0` turns it off; requests carrying the admin key
are not limited.

    app.add_middleware(RateLimitMiddleware, limiter=RateLimiter(per_min=60))

The client is `request.client.host`. Behind a reverse proxy, let uvicorn rewrite it from
`X-Forwarded-For` (`FORWARDED_ALLOW_IPS=<proxy ip>`), never trust that header here.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import error_body

PUBLIC_PREFIXES = ("/ask", "/search", "/feedback")
_MAX_CLIENTS = 50_000  # forget idle clients past this many, so memory stays bounded


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client. `check()` returns 0 when allowed, else seconds to wait."""

    def __init__(self, *, per_min: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_min = per_min
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> int:
        if self.per_min <= 0:
            return 0
        rate = self.per_min / 60.0  # tokens per second
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= _MAX_CLIENTS:
                    self._forget_full(now, rate)
                bucket = self._buckets[client] = _Bucket(float(self.per_min), now)
            bucket.tokens = min(float(self.per_min), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def _forget_full(self, now: float, rate: float) -> None:
        # A bucket that has refilled completely carries no state worth keeping.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * rate >= self.per_min]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


def _is_admin(scope: Scope) -> bool:
    """Callers holding the admin key (or `ossqa serve`'s local token) are operators running
    batch jobs such as evaluations through the API, not anonymous clients."""
    state = scope["app"].state if "app" in scope else None
    if state is None:
        return False
    keys = [k for k in (state.settings.ossqa_admin_key, getattr(state, "local_token", "")) if k]
    auth = Headers(scope=scope).get("authorization", "").removeprefix("Bearer ").strip()
    return bool(auth) and any(hmac.compare_digest(auth, k) for k in keys)


class RateLimitMiddleware:
    """Applies `limiter` to requests whose path starts with one of `prefixes` (CORS preflights
    are free: they are not the client's request, the browser sends them)."""

    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, prefixes: tuple[str, ...] = PUBLIC_PREFIXES
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or not scope["path"].startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        if _is_admin(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.limiter.check(client[0] if client else "unknown")
        if wait == 0:
            await self.app(scope, receive, send)
            return
        message = f"rate limit exceeded: {self.limiter.per_min} requests per minute; retry in {wait} s"
        body = json.dumps(error_body(message, 429, retry_after_s=wait)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(wait).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
