"""Test helpers for the channel tests: the app served by uvicorn on a loopback port, a local
HTTP server standing in for Slack's / Discord's servers (it records what the bots send, in
their real wire format), and a canned answerer for bridge unit tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from retrieval.embedders import BaseEmbedder
from service.types import Answer, Citation


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingServer:
    """Answers every request with `reply(path)` (JSON) and queues what it received."""

    url: str
    requests: queue.Queue[Recorded] = field(default_factory=queue.Queue)

    def next(self, timeout: float = 60.0) -> Recorded:
        """The next request the server received (waits for the bot's background work)."""
        return self.requests.get(timeout=timeout)

    def all_now(self) -> list[Recorded]:
        out = []
        while not self.requests.empty():
            out.append(self.requests.get_nowait())
        return out


def _default_reply(path: str) -> dict[str, Any]:
    path = path.split("?")[0]
    if path.endswith("/auth.test"):
        return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "user": "ossqa"}
    if path.endswith("/chat.postMessage"):
        return {"ok": True, "channel": "C1", "ts": "1700000000.000200"}
    return {"ok": True, "id": "123"}


@contextmanager
def recording_server(reply: Any = _default_reply) -> Iterator[RecordingServer]:
    holder: dict[str, RecordingServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            holder["s"].requests.put(
                Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            out = json.dumps(reply(self.path)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_POST = do_PATCH = do_PUT = do_GET = _handle

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["s"] = RecordingServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["s"]
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def live_app(app: FastAPI) -> Iterator[str]:
    """Serve `app` (lifespan included) with uvicorn on a free loopback port; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:  # readiness wait, not a timing assumption
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def citation(n: int, path: str, url: str, title: str = "", quote: str = "") -> Citation:
    return Citation(n=n, path=path, url=url, title=title or path, quote=quote)


@dataclass
class CannedAnswerer:
    """Returns a fixed Answer and records every call (for bridge tests only)."""

    answer: Answer
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    stream_chunks: int = 4

    async def ask(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> Answer:
        self.calls.append((project, question, conversation_id))
        self.channels.append(channel)
        return self.answer

    async def stream(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append((project, question, conversation_id))
        self.channels.append(channel)
        text = self.answer.answer
        step = max(1, len(text) // self.stream_chunks)
        for i in range(0, len(text), step):
            yield {"type": "token", "text": text[i : i + step]}
        yield {"type": "final", **asdict(self.answer)}


def slack_signature(body: bytes, timestamp: int, secret: str) -> dict[str, str]:
    """Slack's v0 scheme: HMAC-SHA256 over 'v0:{timestamp}:{body}'."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


@contextmanager
def openai_server(reply: str | Callable[[dict[str, Any]], str]) -> Iterator[RecordingServer]:
    """An OpenAI-compatible `/v1/chat/completions` (plain and SSE stream) that answers `reply`
    (or `reply(request body)`) and records the prompts it was shown (for tests about what the
    model sees)."""
    holder: dict[str, RecordingServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            holder["s"].requests.put(Recorded("POST", self.path, dict(self.headers.items()), body))
            req = json.loads(body or b"{}")
            text = reply(req) if callable(reply) else reply
            if req.get("stream"):
                chunks = [
                    {"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                    for word in text.split(" ")
                ]
                chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                out = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                self._send(out.encode(), "text/event-stream")
            else:
                message = {"role": "assistant", "content": text}
                data = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
                self._send(
                    json.dumps({"id": "x", "object": "chat.completion", **data}).encode(), "application/json"
                )

        def do_GET(self) -> None:
            self._send(json.dumps({"data": [{"id": "local"}]}).encode(), "application/json")

        def _send(self, out: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["s"] = RecordingServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield holder["s"]
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def demo_app_with_model_down(
    data_dir: Path, corpus: Path, embedder: BaseEmbedder, **extra: object
) -> Iterator[TestClient]:
    """The app on project `demo` (ingested once per data dir), with the admin key
    `admin-secret` and the model server down (nothing listens on the discard port): a question
    that passes the refusal gate is a 503, a refused one a 200."""
    from service.container import build_components
    from service.main import create_app
    from service.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        ossqa_data_dir=data_dir,
        rate_limit_per_min=0,
        ossqa_admin_key="admin-secret",
        llm_base_url="http://127.0.0.1:9/v1",
        **extra,
    )
    components = build_components(settings, embedder=embedder)
    if components.store.count("demo") == 0:
        components.ingest("demo", path=corpus)
    try:
        with TestClient(create_app(settings, components=components)) as client:
            yield client
    finally:
        components.close()
