from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.run import run_ingest
from service.container import build_components
from service.main import create_app
from service.settings import Settings


@pytest.fixture
def client(settings: Settings, tiny_corpus: Path, embedder) -> Iterator[TestClient]:  # noqa: ANN001
    components = build_components(settings, embedder=embedder)
    run_ingest(components.ingester(), "demo", path=tiny_corpus)
    with TestClient(create_app(settings, components=components)) as c:
        yield c
    components.close()


def test_search_returns_hits_with_the_contract_fields(client: TestClient) -> None:
    r = client.post("/search", json={"project": "demo", "query": "How do I enable CORS?", "top_k": 3})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits[0]["path"] == "docs/cors.md"
    assert set(hits[0]) >= {"path", "url", "title", "breadcrumb", "text", "score", "source_type"}
    assert len(hits) <= 3


def test_health_and_projects(client: TestClient, settings: Settings) -> None:
    health = client.get("/healthz").json()
    assert health["ok"] is True and health["chunks"] > 0
    assert health["answer_model"] == {"backend": "local", "model": settings.local_llm}
    projects = client.get("/projects").json()["projects"]
    assert [p["name"] for p in projects] == ["demo"] and projects[0]["chunks"] > 0
    assert client.get("/projects/demo").json()["chunks"] > 0


def test_project_page_says_when_and_how_it_was_last_ingested(
    settings: Settings,
    tiny_corpus: Path,
    embedder,  # noqa: ANN001
) -> None:
    components = build_components(settings, embedder=embedder)
    report = components.ingest("demo", path=tiny_corpus)
    try:
        with TestClient(create_app(settings, components=components)) as c:
            page = c.get("/projects/demo").json()
    finally:
        components.close()
    assert page["last_ingest"].startswith("20") and "T" in page["last_ingest"]
    assert page["last_report"]["docs_updated"] == report.docs_updated > 0
    assert "documents" not in page  # the per-file hashes stay in the manifest


def test_project_page_shows_the_refusal_rule_in_force(
    settings: Settings,
    tiny_corpus: Path,
    embedder,  # noqa: ANN001
) -> None:
    from service.confidence import FALLBACK_THRESHOLD

    components = build_components(settings, embedder=embedder)
    run_ingest(components.ingester(), "demo", path=tiny_corpus)
    try:
        with TestClient(create_app(settings, components=components)) as c:
            default = c.get("/projects/demo").json()["refusal"]
        # A maintainer's REFUSAL_THRESHOLD replaces it, and the page says where it came from.
        tuned = settings.model_copy(update={"refusal_threshold": 0.7})
        with TestClient(create_app(tuned, components=components)) as c:
            override = c.get("/projects/demo").json()["refusal"]
    finally:
        components.close()
    assert default["signal"] == "fallback" and default["threshold"] == FALLBACK_THRESHOLD
    assert override["threshold"] == 0.7 and override["threshold_from"] == "REFUSAL_THRESHOLD"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"project": "nope", "query": "CORS"}, 404, "nope"),
        ({"project": "demo", "query": ""}, 422, "query"),
        ({"project": "demo", "query": "   "}, 422, "query"),
        ({"project": "demo", "query": "x" * 2001}, 422, "query"),
        ({"project": "demo", "query": "CORS", "top_k": 0}, 422, "top_k"),
        ({"project": "demo", "query": "CORS", "top_k": 51}, 422, "top_k"),
        ({"project": "demo", "query": "CORS", "source_types": ["wiki"]}, 422, "source_types"),
        ({"query": "CORS"}, 422, "project"),
        ({"project": "../etc", "query": "CORS"}, 422, "project"),
    ],
)
def test_bad_input_gets_a_clear_4xx(client: TestClient, body: dict, status: int, fragment: str) -> None:
    r = client.post("/search", json=body)
    assert r.status_code == status
    payload = r.json()
    assert payload["ok"] is False and payload["status"] == status and fragment in payload["error"]


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post(
        "/search", content=b'{"project": "demo", "query": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["ok"] is False


def test_unknown_project_page_is_404(client: TestClient) -> None:
    r = client.get("/projects/nope")
    assert r.status_code == 404 and "nope" in r.json()["error"]


def test_admin_routes_need_a_key(client: TestClient) -> None:
    r = client.post("/admin/ingest", json={"project": "demo", "path": "/tmp"})
    assert r.status_code == 403 and "OSSQA_ADMIN_KEY" in r.json()["error"]


def test_health_names_the_remote_answer_model_without_its_url(
    settings: Settings,
    embedder,  # noqa: ANN001
) -> None:
    remote = settings.model_copy(
        update={"llm_base_url": "http://user:secret@gpu-box:8000/v1", "llm_model": "qwen-7b"}
    )
    components = build_components(remote, embedder=embedder)
    try:
        with TestClient(create_app(remote, components=components)) as c:
            r = c.get("/healthz")
    finally:
        components.close()
    assert r.json()["answer_model"] == {"backend": "remote", "model": "qwen-7b"}
    assert "secret" not in r.text


def test_oversized_body_is_413_before_it_is_read(settings: Settings, embedder) -> None:  # noqa: ANN001
    small = settings.model_copy(update={"max_body_bytes": 65_536})
    components = build_components(small, embedder=embedder)
    try:
        with TestClient(create_app(small, components=components)) as c:
            big = c.post("/search", json={"project": "demo", "query": "x" * 70_000})
            fits = c.post("/search", json={"project": "demo", "query": "x" * 3_000})
    finally:
        components.close()
    assert big.status_code == 413
    assert fits.status_code == 422 and "2000 characters" in fits.json()["error"]  # read, then judged
