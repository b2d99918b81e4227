"""The docs-site widget in a real browser (Debian's Chromium driven by Playwright).

A demo docs site is served on one loopback port with the one-line tag pointing at the API on
another, so every call crosses origins exactly as on a real docs site (CORS included). The
corpus is really ingested (embedded Qdrant, packaged embedder) and citation URLs point back at
the demo site, so clicking one opens a real page.

The answers come from `ScriptedAnswerer`: real retrieval over the ingested docs, then a fixed
answer streamed token by token (a gate holds the stream half way so the test can see it is
streaming). The real local model takes 20-60 s per answer on this 2-core machine, which makes
a UI test slow and its wording unpredictable; the model itself is covered by the /ask tests.

CI needs: `apt-get install -y chromium` and `pip install playwright` (no `playwright install`).
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ingest.run import run_ingest
from retrieval.embedders import BaseEmbedder
from service.container import Components, build_components
from service.main import create_app
from service.settings import Settings
from service.types import Answer, Citation
from tests.conftest import local_model, write_corpus

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "widget.png"

XSS_IMG = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
XSS_SCRIPT = "<script>window.__xss=(window.__xss||0)+1</script>"
XSS_LINK = "[click me](javascript:window.__xss=(window.__xss||0)+1)"

DOCS = {
    "docs/cors.md": """# CORS

Cross-Origin Resource Sharing lets a frontend on another origin call your API.

## Use CORSMiddleware

Add `CORSMiddleware` to the application and list the allowed origins in `allow_origins`.
Set `allow_credentials=True` only when the frontend sends cookies.
""",
    "docs/background.md": """# Background Tasks

Run work after returning a response with `BackgroundTasks`.

## Add a task

Call `background_tasks.add_task(write_log, message)` inside the path operation.
""",
    "docs/evil.md": f"""# Webhook signatures {XSS_IMG}

Verify webhook signatures before trusting the payload {XSS_SCRIPT} and reject stale requests.

## Rotate the webhook secret

Rotate the webhook secret every ninety days. {XSS_LINK} <a href="javascript:alert(1)">docs</a>
""",
}


def _chromium_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


if not _chromium_available():  # pragma: no cover - CI installs both
    pytest.skip("needs Debian's chromium and the playwright package", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=30_000)  # a busy 2-core machine; waits end as soon as the state is reached

# ------------------------------------------------------------------------------ servers


class DocsHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".md": "text/plain; charset=utf-8"}

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve_dir(root: Path) -> Iterator[str]:
    handler = functools.partial(DocsHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:  # readiness wait
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


# ------------------------------------------------------------------------------ answerer


def _first_sentence(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return lines[0][:200] if lines else ""


@dataclass
class ScriptedAnswerer:
    """Real retrieval over the ingested project, then `template` streamed word by word.
    `{quote}` in the template is replaced by the top hit's text (payloads included)."""

    retriever: Any
    template: str = "Add `CORSMiddleware` to the app and list the allowed origins [1]."
    gate: threading.Event | None = None
    top_k: int = 1
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)

    def _cites(self, project: str, question: str) -> list[Citation]:
        hits = self.retriever.search(project, question, top_k=self.top_k)
        return [
            Citation(n=i, path=h.path, url=h.url, title=h.title, quote=_first_sentence(h.text))
            for i, h in enumerate(hits, start=1)
        ]

    async def ask(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> Answer:
        self.calls.append((project, question, conversation_id))
        self.channels.append(channel)
        cites = await asyncio.to_thread(self._cites, project, question)
        text = self.template.replace("{quote}", cites[0].quote if cites else "")
        return Answer(text, False, 0.9, cites, conversation_id or f"conv{len(self.calls)}")

    async def stream(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> AsyncIterator[dict[str, Any]]:
        answer = await self.ask(project, question, conversation_id=conversation_id, channel=channel)
        words = answer.answer.split(" ")
        half = len(words) // 2
        for i, word in enumerate(words):
            yield {"type": "token", "text": word if i == 0 else " " + word}
            if i == half and self.gate is not None:
                await asyncio.to_thread(self.gate.wait, 60)
        yield {"type": "final", **asdict(answer)}


# ------------------------------------------------------------------------------ fixtures


@dataclass
class Stack:
    api: str
    site: str
    app: Any
    components: Components


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo docs</title>
<style>body {{ font-family: Georgia, serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
  background: {bg}; color: {fg}; }} </style></head>
<body>
<h1>Demo project documentation</h1>
<p>Welcome to the demo docs. Use the <b>Ask</b> button to ask a question about the project.</p>
<h2>Getting started</h2>
<p>Install the package, create an app and run it. See the guides for CORS and background tasks.</p>
<script src="{api}/widget.js" data-project="demo" async></script>
</body></html>
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, embedder: BaseEmbedder) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("site")
    (root / "favicon.ico").write_bytes(b"")  # no 404 in the console to confuse error checks
    write_corpus(root / "corpus", DOCS)
    with serve_dir(root) as site:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            ossqa_data_dir=root / "data",
            rate_limit_per_min=0,
            allowed_origins=f"demo={site}",  # only the demo site may use the demo project
            llm_base_url=f"{site}/no-llm/v1",  # the scripted answerer replaces the model
        )
        components = build_components(settings, embedder=embedder)
        run_ingest(components.ingester(f"{site}/corpus/{{path}}#{{anchor}}"), "demo", path=root / "corpus")
        app = create_app(settings, components=components)
        if not any(getattr(r, "path", "") == "/ask" for r in app.routes):  # until main.py wires /ask
            from service.api.routes import ask

            app.include_router(ask.router)
        with serve_app(app) as api:
            for name, bg, fg in (("index.html", "#ffffff", "#1f2933"), ("dark.html", "#0f172a", "#e2e8f0")):
                (root / name).write_text(PAGE.format(api=api, bg=bg, fg=fg), encoding="utf-8")
            yield Stack(api=api, site=site, app=app, components=components)
        components.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class Watched:
    page: Page
    errors: list[str]
    dialogs: list[str]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1100, "height": 760}, device_scale_factor=1)
    page = context.new_page()
    w = Watched(page, [], [])
    page.on("pageerror", lambda exc: w.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and w.errors.append(msg.text))
    page.on("dialog", lambda d: (w.dialogs.append(d.message), d.dismiss()))
    yield w
    context.close()


def widget(page: Page, selector: str = "") -> Any:
    return page.locator(f"ossqa-widget {selector}".strip())


# ------------------------------------------------------------------------------ tests


def test_ask_stream_cite_feedback_by_keyboard(stack: Stack, watched: Watched) -> None:
    gate = threading.Event()
    answerer = ScriptedAnswerer(stack.components.retriever, gate=gate)
    stack.app.state.answerer = answerer
    page = watched.page
    page.goto(f"{stack.site}/index.html")
    launcher = widget(page, "button.launcher")
    expect(launcher).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "false")

    # Keyboard only: focus the launcher, open with Enter, type, send with Enter.
    launcher.focus()
    page.keyboard.press("Enter")
    textarea = widget(page, "textarea")
    expect(textarea).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    page.keyboard.type("How do I enable CORS?")
    page.keyboard.press("Enter")

    # Half the answer is on screen while the server still holds the rest: it streams.
    body = widget(page, ".msg.bot .body")
    expect(body).to_contain_text("Add CORSMiddleware to the")
    expect(widget(page, ".msg.bot .sources")).to_have_count(0)
    gate.set()
    expect(body).to_contain_text("list the allowed origins")
    expect(body.locator("code")).to_have_text("CORSMiddleware")  # markdown rendered as elements

    # Citations are links to the cited page, which opens.
    source = widget(page, ".sources a.source").first
    expect(source).to_contain_text("[1]")
    href = source.get_attribute("href") or ""
    assert href.startswith(f"{stack.site}/corpus/docs/cors.md")
    assert source.get_attribute("target") == "_blank"
    assert "noopener" in (source.get_attribute("rel") or "")
    marker = widget(page, ".msg.bot .body sup.cite a")
    assert marker.get_attribute("href") == href
    with page.context.expect_page() as opened:
        source.click()
    doc = opened.value
    doc.wait_for_load_state()
    assert "Use CORSMiddleware" in doc.content()
    doc.close()

    # 👍 is stored.
    up = widget(page, ".rate button[aria-label='Helpful']")
    up.click()
    expect(widget(page, ".rate")).to_contain_text("Thanks for the feedback")
    expect(up).to_have_attribute("aria-pressed", "true")
    rows = stack.app.state.feedback.export(project="demo")
    assert [(r["rating"], r["conversation_id"], r["question"]) for r in rows] == [
        ("up", "conv1", "How do I enable CORS?")
    ]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # A follow-up keeps the conversation.
    textarea.fill("and how do I allow cookies?")
    textarea.press("Enter")
    expect(widget(page, ".msg.bot")).to_have_count(2)
    expect(widget(page, ".msg.bot").nth(1).locator(".rate")).to_be_visible()
    assert answerer.calls[-1] == ("demo", "and how do I allow cookies?", "conv1")
    assert set(answerer.channels) == {"widget"}  # the widget says who asks (question log)

    # Escape closes the panel and gives focus back to the launcher.
    page.keyboard.press("Escape")
    expect(widget(page, ".panel")).to_be_hidden()
    expect(launcher).to_be_focused()
    assert watched.errors == [] and watched.dialogs == []


def test_xss_in_ingested_doc_and_in_answer_stays_inert(stack: Stack, watched: Watched) -> None:
    # The answer repeats the hostile document text (as a model quoting it would) and adds its own.
    template = "{quote} " + XSS_IMG + " " + XSS_SCRIPT + " " + XSS_LINK + " see [1]"
    stack.app.state.answerer = ScriptedAnswerer(stack.components.retriever, template=template, top_k=2)
    page = watched.page
    page.goto(f"{stack.site}/index.html")
    widget(page, "button.launcher").click()
    widget(page, "textarea").fill("How often should I rotate the webhook secret?")
    widget(page, "button.send").click()
    expect(widget(page, ".msg.bot .rate")).to_be_visible()

    # The hostile doc really was retrieved: its payload arrives in title, quote and answer.
    sources = widget(page, ".sources")
    expect(sources).to_contain_text("onerror")
    expect(widget(page, ".msg.bot .body")).to_contain_text("<script>window.__xss")
    shadow_check = """() => {
        const root = document.querySelector('ossqa-widget').shadowRoot;
        const bad = root.querySelectorAll(
            'script, img, iframe, object, embed, svg [onload], [onerror], [onclick]');
        const js = [...root.querySelectorAll('a')].filter(a => !/^(https?|mailto):/.test(a.href));
        const page = document.querySelectorAll('img, script:not([src])').length;
        return {bad: bad.length, js: js.length, page};
    }"""
    assert page.evaluate(shadow_check) == {"bad": 0, "js": 0, "page": 0}
    # The javascript: links (the doc's, maybe quoted, and the answer's) are plain text; clicks do nothing.
    spans = widget(page, ".msg.bot .body span").filter(has_text="click me")
    expect(spans.first).to_be_visible()
    for span in spans.all():
        span.click()
    assert page.evaluate("window.__xss") is None
    assert watched.dialogs == []
    assert watched.errors == []


def test_phone_and_dark_host_page(stack: Stack, browser: Browser) -> None:
    stack.app.state.answerer = ScriptedAnswerer(stack.components.retriever)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{stack.site}/dark.html")
    host = page.locator("ossqa-widget")
    expect(host).to_have_attribute("data-ossqa-theme", "dark")
    widget(page, "button.launcher").tap()
    panel = widget(page, ".panel")
    box = panel.bounding_box()
    assert box is not None and box["width"] >= 389 and box["height"] >= 843  # full screen on a phone
    textarea = widget(page, "textarea")
    assert (
        page.evaluate(
            "() => getComputedStyle(document.querySelector('ossqa-widget')"
            ".shadowRoot.querySelector('textarea')).fontSize"
        )
        == "16px"
    )  # no zoom on focus
    textarea.tap()
    textarea.fill("How do I run a background task?")
    widget(page, "button.send").tap()
    expect(widget(page, ".msg.bot .rate")).to_be_visible()
    close = widget(page, "button.close")
    close_box = close.bounding_box()
    assert close_box is not None and close_box["width"] >= 40 and close_box["height"] >= 40
    # The host page switches to light: the widget follows.
    page.evaluate("document.body.style.background = '#fafafa'")
    expect(host).to_have_attribute("data-ossqa-theme", "light")
    context.close()


def test_site_not_allowed_for_the_project_gets_nothing(stack: Stack, watched: Watched) -> None:
    answerer = ScriptedAnswerer(stack.components.retriever)
    stack.app.state.answerer = answerer
    page = watched.page
    # Same page, other origin: "localhost" is not the allowed "127.0.0.1" site.
    page.goto(f"{stack.site.replace('127.0.0.1', 'localhost')}/index.html")
    widget(page, "button.launcher").click()
    widget(page, "textarea").fill("How do I enable CORS?")
    widget(page, "button.send").click()
    expect(widget(page, ".msg.bot .error")).to_be_visible()
    expect(widget(page, ".sources")).to_have_count(0)
    assert answerer.calls == []


# ------------------------------------------------------------------------------ real stack


@pytest.fixture(scope="module")
def real_stack(tmp_path_factory: pytest.TempPathFactory, embedder: BaseEmbedder) -> Iterator[Stack]:
    """The same demo site, answered by the real Answerer and the packaged model on the real
    local llama.cpp server (no scripted parts)."""
    from service.llm import LocalLLMServer

    root = tmp_path_factory.mktemp("real-site")
    (root / "favicon.ico").write_bytes(b"")
    write_corpus(root / "corpus", DOCS)
    model = local_model(tmp_path_factory.mktemp("llm"))
    with LocalLLMServer(model, threads=1) as llm, serve_dir(root) as site:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            ossqa_data_dir=root / "data",
            rate_limit_per_min=0,
            allowed_origins=f"demo={site}",
            llm_base_url=llm.base_url,
            llm_max_tokens=96,  # keeps one answer to ~10-30 s on 2 cores
        )
        components = build_components(settings, embedder=embedder)
        run_ingest(components.ingester(f"{site}/corpus/{{path}}#{{anchor}}"), "demo", path=root / "corpus")
        app = create_app(settings, components=components)
        with serve_app(app) as api:
            (root / "index.html").write_text(
                PAGE.format(api=api, bg="#ffffff", fg="#1f2933"), encoding="utf-8"
            )
            yield Stack(api=api, site=site, app=app, components=components)
        components.close()


def test_real_stack_streams_a_cited_answer(real_stack: Stack, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{real_stack.site}/index.html")
    widget(page, "button.launcher").click()
    widget(page, "textarea").fill("How do I enable CORS so a frontend on another origin can call my API?")
    widget(page, "button.send").click()
    # Streaming: model text is on screen while the answer is still being written.
    page.wait_for_function(
        """() => {
            const bot = document.querySelector('ossqa-widget').shadowRoot.querySelector('.msg.bot');
            const body = bot && bot.querySelector('.body');
            return bot && bot.getAttribute('aria-busy') === 'true' && body.querySelector('p:not(.status)')
                && body.textContent.trim().length > 0;
        }""",
        timeout=240_000,
    )
    rate = widget(page, ".msg.bot .rate")
    expect(rate).to_be_visible(timeout=240_000)
    # Grounded or refused, the links point at the real CORS page of the demo site.
    links = [a.get_attribute("href") or "" for a in widget(page, ".sources a.source").all()]
    assert any(h.startswith(f"{real_stack.site}/corpus/docs/cors.md") for h in links), links
    widget(page, ".rate button[aria-label='Not helpful']").click()
    expect(rate).to_contain_text("Thanks for the feedback")
    assert watched.errors == [] and watched.dialogs == []
