"""Schema-driven fuzzing of the HTTP API (schemathesis): whatever a client sends, within the
OpenAPI schema or outside it (wrong types, missing fields, huge numbers, odd Unicode), the
service answers with a clear client error or a result, never a 500 or a stack trace.

The app is the real one: a real embedded Qdrant store in a temp dir, the packaged embedder, a
small ingested corpus. The answer model is unreachable on purpose, so `/ask` exercises its
documented failure answers (502/503/504 with a message) instead of waiting on generation.
POST /admin/ingest is left out: it ingests a folder of the server's own disk, and fuzzed paths
would walk the test machine's file system."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from ingest.run import run_ingest
from service.container import build_components
from service.main import create_app
from service.settings import Settings

ADMIN_KEY = "fuzz-admin-key"
MODEL_DOWN = {502, 503, 504}  # /ask's answers when the model cannot be reached, with citations


@pytest.fixture
def api_schema(tmp_path: Path, tiny_corpus: Path, embedder) -> Iterator[object]:  # noqa: ANN001
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        ossqa_data_dir=tmp_path / "data",
        rate_limit_per_min=0,
        ossqa_admin_key=ADMIN_KEY,
        llm_base_url="http://127.0.0.1:9/v1",  # discard port: nothing listens
        llm_timeout_s=5,
    )
    components = build_components(settings, embedder=embedder)
    run_ingest(components.ingester(), "demo", path=tiny_corpus)
    app = create_app(settings, components=components)
    yield schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/admin/ingest", method="POST")
    components.close()


schema = schemathesis.pytest.from_fixture("api_schema")


FUZZ = hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@schema.parametrize()
@FUZZ
def test_no_input_causes_a_server_error(case) -> None:  # noqa: ANN001
    # Most generated project names do not exist (404 before any logic runs); point three in
    # four requests at the ingested project so retrieval, refusal and the answer path run too.
    body = case.body
    if isinstance(body, dict) and "project" in body and random.Random(repr(body)).random() < 0.75:
        body["project"] = "demo"
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN_KEY}"}
    response = case.call()
    allowed = MODEL_DOWN if case.path == "/ask" else set()
    assert response.status_code < 500 or response.status_code in allowed, (
        response.status_code,
        response.text[:300],
        case.body,
    )
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert response.headers.get("content-type", [""])[0].startswith("application/json")  # list per header
        assert response.json()["error"], response.text[:300]  # the message saying what was wrong
