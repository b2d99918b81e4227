"""Slack bridge: real HMAC-signed requests to the app served on a loopback port; Slack's Web API
and the slash command's response_url are a local server recording what the bot sends."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from _wire import CannedAnswerer, RecordingServer, citation, live_app, recording_server
from fuzzing import JSON, mutated
from hypothesis import HealthCheck, given, settings

from retrieval.embedders import BaseEmbedder
from service.bridges.format import slack_text
from service.bridges.slack import clean_question
from service.container import build_components
from service.main import create_app
from service.settings import Settings
from service.types import Answer

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"

ANSWER = Answer(
    answer="Add `CORSMiddleware` to the app and list the origins [1].",
    refused=False,
    confidence=0.91,
    citations=[citation(1, "docs/cors.md", "https://docs.example/cors#use-corsmiddleware", "CORS")],
    conversation_id="conv-1",
)
REFUSAL = Answer(
    answer="The knowledge base does not cover this.",
    refused=True,
    confidence=0.05,
    citations=[],
    conversation_id="conv-2",
    closest=[citation(1, "docs/settings.md", "https://docs.example/settings", "Settings")],
)


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    """Slack's v0 scheme: HMAC-SHA256 over 'v0:{timestamp}:{body}'."""
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


@dataclass
class SlackEnv:
    url: str
    slack: RecordingServer
    app: object
    answerer: CannedAnswerer = field(default_factory=lambda: CannedAnswerer(ANSWER))

    def post(self, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> httpx.Response:
        hdrs = {
            "Content-Type": content_type,
            **(sign(body, int(time.time())) if headers is None else headers),
        }
        return httpx.post(f"{self.url}/slack/events", content=body, headers=hdrs, timeout=30)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, embedder: BaseEmbedder) -> Iterator[SlackEnv]:
    with recording_server() as slack:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            ossqa_data_dir=tmp_path_factory.mktemp("slack") / "data",
            rate_limit_per_min=0,
            slack_signing_secret=SECRET,
            slack_bot_token=BOT_TOKEN,
            slack_api_base=f"{slack.url}/api/",
            slack_project="demo",
            llm_base_url=f"{slack.url}/v1",  # never called: the bridge tests use a canned answerer
        )
        components = build_components(settings, embedder=embedder)
        app = create_app(settings, components=components)
        with live_app(app) as url:
            yield SlackEnv(url=url, slack=slack, app=app)
        components.close()


@pytest.fixture
def slack_env(env: SlackEnv) -> SlackEnv:
    env.answerer = CannedAnswerer(ANSWER)
    env.app.state.answerer = env.answerer  # type: ignore[attr-defined]
    env.slack.all_now()  # drop what earlier tests left
    return env


def test_url_verification_is_answered(slack_env: SlackEnv) -> None:
    body = json.dumps(
        {"type": "url_verification", "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV"}
    ).encode()
    r = slack_env.post(body, "application/json")
    assert r.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV" in r.text


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda b: sign(b, int(time.time()), secret="wrong-secret"), id="wrong-secret"),
        pytest.param(lambda b: sign(b, int(time.time()) - 6 * 60), id="stale-6-minutes"),
        pytest.param(lambda b: sign(b + b" ", int(time.time())), id="body-tampered"),
        pytest.param(lambda b: {}, id="unsigned"),
    ],
)
def test_bad_or_stale_signature_is_401(slack_env: SlackEnv, headers) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "nope"}).encode()
    r = slack_env.post(body, "application/json", headers=headers(body))
    assert r.status_code == 401
    assert r.json()["ok"] is False and "signature" in r.json()["error"]
    assert "nope" not in r.text
    assert slack_env.answerer.calls == []


def test_signature_just_inside_five_minutes_passes(slack_env: SlackEnv) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "fresh"}).encode()
    r = slack_env.post(body, "application/json", headers=sign(body, int(time.time()) - 4 * 60))
    assert r.status_code == 200 and "fresh" in r.text


def _command_body(slack: RecordingServer, text: str) -> bytes:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "example",
            "channel_id": "C1",
            "channel_name": "general",
            "user_id": "U1",
            "user_name": "ada",
            "command": "/ask",
            "text": text,
            "api_app_id": "A1",
            "response_url": f"{slack.url}/commands/T1/123/hook-secret",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    ).encode()


class GatedAnswerer(CannedAnswerer):
    """Holds the answer until the test opens the gate: proves the ack does not wait for it."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer)
        self.gate = threading.Event()

    async def ask(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> Answer:
        self.calls.append((project, question, conversation_id))
        await asyncio.to_thread(self.gate.wait, 30)
        return self.answer


def test_slash_command_acks_first_then_posts_answer_to_response_url(slack_env: SlackEnv) -> None:
    gated = GatedAnswerer(ANSWER)
    slack_env.app.state.answerer = gated  # type: ignore[attr-defined]
    body = _command_body(slack_env.slack, "how do I enable CORS?")
    r = slack_env.post(body, "application/x-www-form-urlencoded")
    # The answer is still held back, so this response can only be the acknowledgement.
    assert r.status_code == 200
    assert "Looking that up" in r.text
    early = slack_env.slack.all_now()
    gated.gate.set()
    assert all("/auth.test" in req.path for req in early), [(q.path, q.body) for q in early]

    posted = slack_env.slack.next()
    assert posted.method == "POST"
    assert posted.path == "/commands/T1/123/hook-secret"
    assert posted.headers["content-type"].startswith("application/json")
    msg = posted.json()
    assert msg["response_type"] == "in_channel"
    assert "<https://docs.example/cors#use-corsmiddleware|[1]>" in msg["text"]  # marker is a link
    assert "<https://docs.example/cors#use-corsmiddleware|[1] CORS>" in msg["text"]  # source list
    assert "&gt; how do I enable CORS?" not in msg["text"] and "> how do I enable CORS?" in msg["text"]
    assert gated.calls == [("demo", "how do I enable CORS?", None)]


def test_slash_command_refusal_says_so(slack_env: SlackEnv) -> None:
    slack_env.answerer.answer = REFUSAL
    r = slack_env.post(
        _command_body(slack_env.slack, "what is the capital of France?"), "application/x-www-form-urlencoded"
    )
    assert r.status_code == 200
    text = slack_env.slack.next().json()["text"]
    assert "don't cover this" in text
    assert "Closest pages" in text
    assert "<https://docs.example/settings|[1] Settings>" in text


def test_empty_slash_command_gets_usage(slack_env: SlackEnv) -> None:
    r = slack_env.post(_command_body(slack_env.slack, "  "), "application/x-www-form-urlencoded")
    assert r.status_code == 200 and "Usage" in r.text
    assert slack_env.answerer.calls == []


def _mention(text: str, ts: str, thread_ts: str | None = None) -> bytes:
    event = {"type": "app_mention", "user": "U1", "text": text, "ts": ts, "channel": "C1", "team": "T1"}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{ts.replace('.', '')}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
        }
    ).encode()


def _next_post_message(slack: RecordingServer) -> dict[str, object]:
    while True:
        req = slack.next()
        if req.path.endswith("/chat.postMessage"):
            assert req.headers["authorization"] == f"Bearer {BOT_TOKEN}"
            return req.json() if req.headers["content-type"].startswith("application/json") else {}


def test_mention_is_answered_in_thread_and_follow_up_keeps_conversation(slack_env: SlackEnv) -> None:
    r = slack_env.post(_mention("<@UBOT> how do I enable CORS?", ts="1700000001.000100"), "application/json")
    assert r.status_code == 200
    first = _next_post_message(slack_env.slack)
    assert first["channel"] == "C1"
    assert first["thread_ts"] == "1700000001.000100"  # replies in the thread of the mention
    assert "<https://docs.example/cors#use-corsmiddleware|[1]>" in str(first["text"])

    follow = _mention("<@UBOT> and how do I test it?", ts="1700000002.000100", thread_ts="1700000001.000100")
    assert slack_env.post(follow, "application/json").status_code == 200
    second = _next_post_message(slack_env.slack)
    assert second["thread_ts"] == "1700000001.000100"
    assert slack_env.answerer.calls == [
        ("demo", "how do I enable CORS?", None),
        ("demo", "and how do I test it?", "conv-1"),
    ]
    assert slack_env.answerer.channels == ["slack", "slack"]


def test_answerer_failure_is_reported_in_thread(slack_env: SlackEnv) -> None:
    slack_env.app.state.answerer = None  # type: ignore[attr-defined]
    slack_env.post(_mention("<@UBOT> anything", ts="1700000003.000100"), "application/json")
    text = str(_next_post_message(slack_env.slack)["text"])
    assert "couldn't generate an answer" in text


def test_slack_off_without_signing_secret(tmp_path: Path, embedder: BaseEmbedder) -> None:
    from fastapi.testclient import TestClient

    settings = Settings(_env_file=None, ossqa_data_dir=tmp_path, rate_limit_per_min=0)  # type: ignore[call-arg]
    components = build_components(settings, embedder=embedder)
    with TestClient(create_app(settings, components=components)) as client:
        r = client.post("/slack/events", json={"type": "url_verification", "challenge": "x"})
    components.close()
    assert r.status_code == 503
    assert "SLACK_SIGNING_SECRET" in r.json()["error"]


def test_clean_question_and_escaping() -> None:
    assert clean_question("<@U024BE7LH> how do <b>I</b>?") == "how do <b>I</b>?"
    hostile = Answer(
        answer="<!channel> see <javascript:alert(1)|x> & more [1]",
        refused=False,
        confidence=0.5,
        citations=[citation(1, "a.md", "javascript:alert(1)", "A|B>")],
        conversation_id="c",
    )
    text = slack_text(hostile, "demo")
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text  # no @channel ping from model output
    assert "javascript:" not in text.split("*Sources*")[1]  # unsafe URLs are not linked


def test_markers_link_in_prose_but_not_inside_code() -> None:
    from service.bridges.format import discord_text

    answer = Answer(
        answer="Read `rows[1]` first [1].\n```python\nsecond = rows[1]\n```",
        refused=False,
        confidence=0.9,
        citations=[citation(1, "a.md", "https://docs.example/a", "A")],
        conversation_id="c",
    )
    slack = slack_text(answer, "demo").split("*Sources*")[0]
    assert slack.count("<https://docs.example/a|[1]>") == 1
    assert "`rows[1]`" in slack and "second = rows[1]\n```" in slack
    discord = discord_text(answer, "demo").split("**Sources**")[0]
    assert discord.count("(<https://docs.example/a>)") == 1
    assert "`rows[1]`" in discord and "second = rows[1]\n```" in discord


_SLASH_FIELDS = {
    "command": "/ask",
    "text": "How do I enable CORS?",
    "user_id": "U1",
    "channel_id": "C1",
    "team_id": "T1",
    "response_url": "http://127.0.0.1:9/commands/T1/123/hook",  # nothing listens: the post fails
    "trigger_id": "13345224609.738474920.8088930838d88f008e0",
}


@given(
    event=mutated(json.loads(_mention("<@UBOT> How do I enable CORS?", "1700000000.000100")))
    | mutated({"type": "url_verification", "challenge": "abc"})
    | JSON,
    form=mutated(_SLASH_FIELDS)
    | mutated({"payload": {"type": "block_actions", "actions": [{"value": "x"}]}}),
)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_signed_but_malformed_requests_never_cause_a_server_error(slack_env: SlackEnv, event, form) -> None:  # noqa: ANN001
    # Signed correctly, so the bridge parses what a buggy or hostile client could send.
    flat = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
    for body, content_type in (
        (json.dumps(event).encode(), "application/json"),
        (urlencode(flat).encode(), "application/x-www-form-urlencoded"),
    ):
        r = slack_env.post(body, content_type)
        assert r.status_code < 500, (r.status_code, r.text[:300], body[:300])
        assert "Traceback" not in r.text


@pytest.mark.parametrize(
    "body",
    [b"null", b"[1, 2]", json.dumps({"type": "event_callback", "event": None}).encode()],
    ids=["null", "list", "null-event"],
)
def test_signed_bodies_bolt_cannot_read_are_400(slack_env: SlackEnv, body: bytes) -> None:
    # Found by the fuzz test below: each was a 500 from inside Bolt.
    r = slack_env.post(body, "application/json")
    assert r.status_code == 400 and "malformed Slack request" in r.json()["error"]
    assert slack_env.answerer.calls == []


def test_signed_interactive_payload_is_400(slack_env: SlackEnv) -> None:
    # This bot has no buttons or modals; a block_actions payload with `actions: 5` was a 500.
    body = urlencode({"payload": json.dumps({"type": "block_actions", "actions": 5})}).encode()
    r = slack_env.post(body, "application/x-www-form-urlencoded")
    assert r.status_code == 400 and "malformed Slack request" in r.json()["error"]
    assert slack_env.answerer.calls == []
