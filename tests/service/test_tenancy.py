"""One project's widget, bot or API call never returns (or shows the model) another project's
chunks. Two projects share one store and even a file path (`docs/zebra.md`); the query always
targets the *other* project's words, so a missing project filter would surface them.

The app runs on a loopback port with the real Answerer and retrieval; the model is an
OpenAI-compatible local server that records every prompt, so the test can check what the
model was shown (its wording is not under test here)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
from _wire import RecordingServer, live_app, openai_server, recording_server, slack_signature
from nacl.signing import SigningKey

from ingest.run import run_ingest
from retrieval.embedders import BaseEmbedder
from service.container import build_components
from service.main import create_app
from tests.conftest import fake_llm_settings

ALPHA_SITE, BETA_SITE = "https://alpha.example", "https://beta.example"
BETA_ONLY = ["spotted", "BETA-ONLY-7731", "beta.example"]
ALPHA_ONLY = ["striped", "ALPHA-ONLY-4410", "alpha.example"]

CORPORA = {
    "alpha": {
        "docs/zebra.md": "# Zebra mode\n\nSet `ZEBRA_MODE=striped` to enable zebra mode. Zebra mode draws "
        "striped borders around every table (ALPHA-ONLY-4410).\n\n## Limits\n\nZebra mode supports at most "
        "64 columns.\n",
        "docs/install.md": "# Install\n\nInstall alpha with `pip install alpha`.\n",
    },
    "beta": {
        "docs/zebra.md": "# Zebra mode\n\nSet `ZEBRA_MODE=spotted` to enable zebra mode. Zebra mode draws "
        "spotted borders around every chart (BETA-ONLY-7731).\n\n## Limits\n\nZebra mode supports at most "
        "12 charts.\n",
        "docs/deploy.md": "# Deploy\n\nDeploy beta with `beta deploy --prod`.\n",
    },
}
SLACK_SECRET = "tenancy-secret"
DISCORD_KEY = SigningKey.generate()


@dataclass
class Env:
    url: str
    llm: RecordingServer
    chat: RecordingServer


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, embedder: BaseEmbedder) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("tenancy")
    with openai_server("Set ZEBRA_MODE to enable zebra mode [1].") as llm, recording_server() as chat:
        settings = fake_llm_settings(
            root / "data",
            llm.url,
            allowed_origins=f"alpha={ALPHA_SITE};beta={BETA_SITE}",
            slack_signing_secret=SLACK_SECRET,
            slack_api_base=f"{chat.url}/api/",
            slack_project="alpha",
            discord_public_key=DISCORD_KEY.verify_key.encode().hex(),
            discord_app_id="42",
            discord_api_base=f"{chat.url}/discord",
            discord_project="beta",
        )
        components = build_components(settings, embedder=embedder)
        for project, docs in CORPORA.items():
            folder = root / project
            for rel, text in docs.items():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_text(text, encoding="utf-8")
            site = ALPHA_SITE if project == "alpha" else BETA_SITE
            run_ingest(components.ingester(f"{site}/{{path}}#{{anchor}}"), project, path=folder)
        app = create_app(settings, components=components)
        with live_app(app) as url:
            yield Env(url=url, llm=llm, chat=chat)
        components.close()


def leaks(value: object, words: list[str]) -> list[str]:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return [w for w in words if w in text]


@pytest.mark.parametrize("project,other", [("alpha", BETA_ONLY), ("beta", ALPHA_ONLY)])
def test_search_returns_only_the_projects_chunks(env: Env, project: str, other: list[str]) -> None:
    query = f"zebra mode {' '.join(other[:2])}"  # the other project's words
    r = httpx.post(f"{env.url}/search", json={"project": project, "query": query, "top_k": 10})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits, "the project's own zebra page should still be found"
    assert leaks(hits, other) == []


@pytest.mark.parametrize("project,other", [("alpha", BETA_ONLY), ("beta", ALPHA_ONLY)])
def test_ask_cites_and_prompts_only_the_projects_chunks(env: Env, project: str, other: list[str]) -> None:
    env.llm.all_now()
    question = f"How many are supported in zebra mode with {other[0]} borders ({other[1]})?"
    r = httpx.post(f"{env.url}/ask", json={"project": project, "question": question}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["citations"] or body["closest"]
    assert leaks(body["citations"] + body["closest"], other) == []
    prompts = [p.json()["messages"] for p in env.llm.all_now()]
    assert prompts, "the model was called"
    # The model is shown the project's passages only (the question itself names the other words).
    shown = [m["content"].replace(question, "") for msgs in prompts for m in msgs]
    assert leaks(shown, other[1:]) == []


def test_streamed_ask_stays_in_project(env: Env) -> None:
    question = "zebra mode spotted borders BETA-ONLY-7731?"
    with httpx.stream(
        "POST", f"{env.url}/ask", json={"project": "alpha", "question": question, "stream": True}, timeout=60
    ) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())
    final = json.loads(text.split("event: final\ndata: ")[1].split("\n\n")[0])
    assert final["citations"] or final["closest"]
    assert leaks(final["citations"] + final["closest"], BETA_ONLY) == []


def test_unknown_project_is_404_not_someone_elses_answer(env: Env) -> None:
    r = httpx.post(f"{env.url}/search", json={"project": "gamma", "query": "zebra mode"})
    assert r.status_code == 404
    r = httpx.post(f"{env.url}/ask", json={"project": "gamma", "question": "zebra mode?"}, timeout=60)
    assert r.status_code == 404
    assert leaks(r.json(), BETA_ONLY + ALPHA_ONLY) == []


def test_slack_bot_answers_from_its_project_only(env: Env) -> None:
    env.chat.all_now()
    body = urlencode(
        {
            "command": "/ask",
            "text": "zebra mode with spotted borders BETA-ONLY-7731?",
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": "U1",
            "response_url": f"{env.chat.url}/hooks/slack-response",
            "trigger_id": "1.2.3",
        }
    ).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **slack_signature(body, int(time.time()), SLACK_SECRET),
    }
    assert httpx.post(f"{env.url}/slack/events", content=body, headers=headers, timeout=30).status_code == 200
    posted = env.chat.next()
    assert posted.path == "/hooks/slack-response"
    text = posted.json()["text"]
    assert "alpha.example" in text
    # The question is quoted back; nothing else from beta appears.
    assert leaks(text.split("\n", 1)[1], ["beta.example", "12 charts"]) == []


def test_discord_bot_answers_from_its_project_only(env: Env) -> None:
    env.chat.all_now()
    payload = {
        "type": 2,
        "id": "1",
        "application_id": "42",
        "token": "tok",
        "version": 1,
        "data": {"name": "ask", "options": [{"name": "question", "value": "zebra striped ALPHA-ONLY-4410?"}]},
    }
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Signature-Ed25519": DISCORD_KEY.sign(ts.encode() + body).signature.hex(),
        "X-Signature-Timestamp": ts,
    }
    assert httpx.post(f"{env.url}/discord/interactions", content=body, headers=headers).json() == {"type": 5}
    content = env.chat.next().json()["content"]
    assert "beta.example" in content
    assert leaks(content, ["alpha.example", "64 columns"]) == []


@pytest.mark.parametrize(
    "origin,query,body_project,expected",
    [
        (ALPHA_SITE, "alpha", "alpha", 200),
        (ALPHA_SITE, "alpha", "beta", 403),  # the body decides, not the query
        (ALPHA_SITE, None, "beta", 403),
        (BETA_SITE, "beta", "alpha", 403),
        ("https://evil.example", "alpha", "alpha", 403),
        (None, None, "beta", 200),  # no Origin: not a browser on another site (curl, a server)
    ],
)
def test_a_sites_widget_can_only_use_its_own_project(
    env: Env, origin: str | None, query: str | None, body_project: str, expected: int
) -> None:
    headers = {"Origin": origin} if origin else {}
    url = f"{env.url}/search" + (f"?project={query}" if query else "")
    r = httpx.post(url, json={"project": body_project, "query": "zebra mode"}, headers=headers)
    assert r.status_code == expected, r.text
    if expected == 200 and origin:
        assert r.headers["access-control-allow-origin"] == origin
    if expected == 403:
        assert r.json()["ok"] is False and "may not use" in r.json()["error"]
        assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    "origin,project,allowed",
    [
        (ALPHA_SITE, "alpha", True),
        (ALPHA_SITE, "beta", False),
        (BETA_SITE, "beta", True),
        (ALPHA_SITE, None, True),
    ],
)
def test_preflight_is_per_project(env: Env, origin: str, project: str | None, allowed: bool) -> None:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    url = f"{env.url}/ask" + (f"?project={project}" if project else "")
    r = httpx.options(url, headers=headers)
    if allowed:
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == origin
        assert "POST" in r.headers["access-control-allow-methods"]
        assert r.headers["access-control-allow-headers"] == "content-type"
    else:
        assert r.status_code == 403
        assert "access-control-allow-origin" not in r.headers


def test_admin_and_bot_routes_send_no_cors_headers(env: Env) -> None:
    r = httpx.get(f"{env.url}/admin/feedback", headers={"Origin": ALPHA_SITE})
    assert r.status_code in (401, 403)
    assert "access-control-allow-origin" not in r.headers
