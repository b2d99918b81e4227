"""GET /widget.js and /widget/demo; plus static guards on the widget source (the browser
behaviour itself is tested in tests/integration/test_widget_browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retrieval.embedders import BaseEmbedder
from service.api.routes.widget import WIDGET_FILE
from service.container import build_components
from service.main import create_app
from service.settings import Settings


@pytest.fixture
def client(tmp_path: Path, embedder: BaseEmbedder) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, ossqa_data_dir=tmp_path, rate_limit_per_min=0)  # type: ignore[call-arg]
    components = build_components(settings, embedder=embedder)
    with TestClient(create_app(settings, components=components)) as c:
        yield c
    components.close()


def test_widget_js_defines_the_custom_element(client: TestClient) -> None:
    r = client.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert 'const TAG = "ossqa-widget"' in r.text
    assert "customElements.define(TAG, OssqaWidget)" in r.text
    assert "attachShadow" in r.text


def test_widget_source_never_parses_untrusted_html() -> None:
    source = WIDGET_FILE.read_text()
    code = re.sub(r"^\s*(//|\*|/\*).*$", "", source, flags=re.MULTILINE)  # comments may name them
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in code, sink
    assert "secret" not in code.lower() and "authorization" not in code.lower()  # carries no secret


def test_demo_page_embeds_the_tag(client: TestClient) -> None:
    r = client.get("/widget/demo", params={"project": "fastapi"})
    assert r.status_code == 200
    assert '<script src="/widget.js" data-project="fastapi" async></script>' in r.text


def test_demo_page_rejects_markup_in_the_project_name(client: TestClient) -> None:
    r = client.get("/widget/demo", params={"project": '"><script>alert(1)</script>'})
    assert r.status_code == 422
    assert r.json()["ok"] is False and "<script>" not in r.headers.get("content-type", "")
