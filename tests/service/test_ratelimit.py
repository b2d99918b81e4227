"""Per-client rate limiting of the public routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from retrieval.embedders import BaseEmbedder
from service.container import build_components
from service.main import create_app
from service.ratelimit import RateLimiter
from service.settings import Settings

FEEDBACK = {"project": "demo", "conversation_id": "c1", "rating": "up"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_gives_seconds_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(per_min=3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.check("a") == 20  # one token refills every 60/3 s
    assert limiter.check("b") == 0  # another client has its own bucket
    clock.now += 10
    assert limiter.check("a") == 10
    clock.now += 10
    assert limiter.check("a") == 0
    assert limiter.check("a") == 20


def test_zero_turns_limiting_off() -> None:
    limiter = RateLimiter(per_min=0)
    assert all(limiter.check("a") == 0 for _ in range(1000))


def test_idle_clients_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.ratelimit as rl

    monkeypatch.setattr(rl, "_MAX_CLIENTS", 10)
    clock = Clock()
    limiter = RateLimiter(per_min=5, clock=clock)
    for i in range(10):
        limiter.check(f"c{i}")
    clock.now += 60  # everyone refilled
    limiter.check("new")
    assert len(limiter._buckets) <= 10


@pytest.fixture
def app(tmp_path: Path, embedder: BaseEmbedder) -> Iterator[FastAPI]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        ossqa_data_dir=tmp_path,
        rate_limit_per_min=2,
        ossqa_admin_key="admin-secret",
        allowed_origins="https://docs.example",
    )
    components = build_components(settings, embedder=embedder)
    yield create_app(settings, components=components)
    components.close()


def test_third_request_in_a_minute_gets_429_with_retry_after(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert [client.post("/feedback", json=FEEDBACK).status_code for _ in range(2)] == [201, 201]
        r = client.post("/feedback", json=FEEDBACK)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "30"
    assert r.json() == {
        "ok": False,
        "error": "rate limit exceeded: 2 requests per minute; retry in 30 s",
        "status": 429,
        "retry_after_s": 30,
    }


def test_limit_is_per_client(app: FastAPI) -> None:
    with TestClient(app, client=("10.0.0.1", 1000)) as one, TestClient(app, client=("10.0.0.2", 1000)) as two:
        for _ in range(2):
            one.post("/search", json={"project": "demo", "query": "x"})
        assert one.post("/search", json={"project": "demo", "query": "x"}).status_code == 429
        # The second client is untouched by the first one's traffic.
        assert two.post("/search", json={"project": "demo", "query": "x"}).status_code != 429


def test_private_and_static_routes_are_not_limited(app: FastAPI) -> None:
    with TestClient(app) as client:
        for _ in range(2):
            client.post("/feedback", json=FEEDBACK)
        assert client.post("/feedback", json=FEEDBACK).status_code == 429
        assert all(client.get("/widget.js").status_code == 200 for _ in range(5))
        assert all(client.get("/healthz").status_code == 200 for _ in range(5))


def test_admin_key_holders_are_not_limited(app: FastAPI) -> None:
    headers = {"Authorization": "Bearer admin-secret"}
    with TestClient(app) as client:
        codes = [client.post("/feedback", json=FEEDBACK, headers=headers).status_code for _ in range(5)]
        assert codes == [201] * 5
        wrong = {"Authorization": "Bearer guess"}
        codes = [client.post("/feedback", json=FEEDBACK, headers=wrong).status_code for _ in range(3)]
        assert codes == [201, 201, 429]


def test_429_reaches_the_widget_with_cors_and_preflights_are_free(app: FastAPI) -> None:
    origin = {"Origin": "https://docs.example"}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    with TestClient(app) as client:
        for _ in range(5):
            assert client.options("/feedback?project=demo", headers=preflight).status_code == 204
        for _ in range(2):
            assert client.post("/feedback", json=FEEDBACK, headers=origin).status_code == 201
        r = client.post("/feedback", json=FEEDBACK, headers=origin)
    assert r.status_code == 429
    assert r.headers["access-control-allow-origin"] == "https://docs.example"
    assert "Retry-After" in r.headers["access-control-expose-headers"]
