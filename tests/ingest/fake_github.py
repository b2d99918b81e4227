"""A fake GitHub API for repository acme/widgets, answering from recorded responses in
fixtures/github/ with GitHub's wire format: REST pages linked by `Link` headers (next pages
under /repositories/<id>/..., as GitHub does), GraphQL pages by cursor, 401 for a bad token,
403 with `x-ratelimit-remaining: 0` when rate limited.

Served in-process through `httpx.MockTransport`, or on a loopback port for the CLI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

FIXTURES = Path(__file__).parent / "fixtures" / "github"
TOKEN = "ghp_test_token_123"
REPO_ID = 4242
RECORDED_HOST = "https://api.github.com"


@dataclass
class FakeGitHub:
    rate_limited: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    auth_headers: list[str] = field(default_factory=list)

    def respond(
        self, method: str, url: str, headers: dict[str, str], body: bytes, base: str
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append((method, parts.path + (f"?{parts.query}" if parts.query else "")))
        self.auth_headers.append(headers.get("authorization", ""))
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return self._json(401, {"message": "Bad credentials", "status": "401"}, base)
        if self.rate_limited:
            return self._json(
                403,
                {"message": "API rate limit exceeded for user ID 1."},
                base,
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1790000000"},
            )
        path = parts.path
        if method == "POST" and path == "/graphql":
            return self._graphql(json.loads(body), base)
        repo_prefixes = ("/repos/acme/widgets", f"/repositories/{REPO_ID}")
        for prefix in repo_prefixes:
            if method == "GET" and path.startswith(prefix):
                return self._rest(path[len(prefix) :], query, base)
        return self._json(404, {"message": "Not Found"}, base)

    def _rest(self, rest: str, query: dict[str, str], base: str) -> tuple[int, dict[str, str], bytes]:
        page = int(query.get("page", "1"))
        if rest == "/issues" and query.get("state") == "all":
            nxt = f"{base}/repositories/{REPO_ID}/issues?state=all&per_page={query['per_page']}&sort=updated"
            if page == 1:
                link = f'<{nxt}&page=2>; rel="next", <{nxt}&page=2>; rel="last"'
                return self._fixture("issues_page1.json", base, {"link": link})
            return self._fixture("issues_page2.json", base)
        if rest == "/issues/210/comments":
            nxt = f"{base}/repositories/{REPO_ID}/issues/210/comments?per_page=100"
            if page == 1:
                return self._fixture("issue_210_comments.json", base, {"link": f'<{nxt}&page=2>; rel="next"'})
            return self._fixture("issue_210_comments_page2.json", base)
        if rest == "/issues/190/comments":
            return self._fixture("issue_190_comments.json", base)
        return self._json(404, {"message": "Not Found"}, base)

    def _graphql(self, payload: dict, base: str) -> tuple[int, dict[str, str], bytes]:
        variables = payload.get("variables") or {}
        if "discussions(" not in payload.get("query", ""):
            return self._json(200, {"errors": [{"message": "unexpected query"}]}, base)
        if (variables.get("owner"), variables.get("name")) != ("acme", "widgets"):
            name = f"{variables.get('owner')}/{variables.get('name')}"
            error = {
                "type": "NOT_FOUND",
                "message": f"Could not resolve to a Repository with the name '{name}'.",
            }
            return self._json(200, {"data": {"repository": None}, "errors": [error]}, base)
        page1 = json.loads((FIXTURES / "discussions_page1.json").read_text(encoding="utf-8"))
        if variables.get("cursor") is None:
            return self._fixture("discussions_page1.json", base)
        if variables["cursor"] == page1["data"]["repository"]["discussions"]["pageInfo"]["endCursor"]:
            return self._fixture("discussions_page2.json", base)
        return self._json(200, {"errors": [{"message": "invalid cursor"}]}, base)

    def _fixture(
        self, name: str, base: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        # Recorded URLs point at api.github.com; a real server names itself.
        text = (FIXTURES / name).read_text(encoding="utf-8").replace(RECORDED_HOST, base)
        return 200, {"content-type": "application/json; charset=utf-8", **(headers or {})}, text.encode()

    def _json(
        self, status: int, body: object, base: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        return status, {"content-type": "application/json", **(headers or {})}, json.dumps(body).encode()

    # -- transports ---------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            base = f"{request.url.scheme}://{request.url.netloc.decode()}"
            status, headers, body = self.respond(
                request.method, str(request.url), dict(request.headers), request.content, base
            )
            return httpx.Response(status, headers=headers, content=body)

        return httpx.MockTransport(handler)

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Listen on a free loopback port; yields the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out_headers, out = fake.respond(self.command, base + self.path, headers, body, base)
                self.send_response(status)
                for key, value in out_headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _reply

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
