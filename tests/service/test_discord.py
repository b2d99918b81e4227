"""Discord bridge: real Ed25519-signed interactions to the app served on a loopback port; the
webhook API (`DISCORD_API_BASE`) is a local server recording the follow-up."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from _wire import CannedAnswerer, RecordingServer, citation, live_app, recording_server
from fuzzing import JSON, mutated
from hypothesis import HealthCheck, given, settings
from nacl.signing import SigningKey

from retrieval.embedders import BaseEmbedder
from service.bridges.discord import ASK_COMMAND, register_commands
from service.bridges.format import DISCORD_MAX_CHARS, discord_text
from service.cli import main as cli_main
from service.container import build_components
from service.main import create_app
from service.settings import Settings
from service.types import Answer

KEY = SigningKey.generate()
APP_ID = "1100000000000000001"

ANSWER = Answer(
    answer="Use `background_tasks.add_task(fn, arg)` [1]. @everyone",
    refused=False,
    confidence=0.88,
    citations=[citation(1, "docs/background.md", "https://docs.example/background#add-a-task", "Background")],
    conversation_id="conv-9",
)


def signed(body: bytes, key: SigningKey = KEY, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    sig = key.sign(ts.encode() + body).signature.hex()
    return {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": ts, "Content-Type": "application/json"}


@dataclass
class DiscordEnv:
    url: str
    discord: RecordingServer
    app: object
    answerer: CannedAnswerer = field(default_factory=lambda: CannedAnswerer(ANSWER))

    def post(self, payload: dict[str, object], headers: dict[str, str] | None = None) -> httpx.Response:
        body = json.dumps(payload).encode()
        hdrs = signed(body) if headers is None else headers
        return httpx.post(f"{self.url}/discord/interactions", content=body, headers=hdrs, timeout=30)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, embedder: BaseEmbedder) -> Iterator[DiscordEnv]:
    with recording_server() as discord:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            ossqa_data_dir=tmp_path_factory.mktemp("discord") / "data",
            rate_limit_per_min=0,
            discord_public_key=KEY.verify_key.encode().hex(),
            discord_app_id=APP_ID,
            discord_api_base=f"{discord.url}/api/v10",
            discord_project="demo",
            llm_base_url=f"{discord.url}/v1",  # never called: canned answerer
        )
        components = build_components(settings, embedder=embedder)
        app = create_app(settings, components=components)
        with live_app(app) as url:
            yield DiscordEnv(url=url, discord=discord, app=app)
        components.close()


@pytest.fixture
def discord_env(env: DiscordEnv) -> DiscordEnv:
    env.answerer = CannedAnswerer(ANSWER)
    env.app.state.answerer = env.answerer  # type: ignore[attr-defined]
    env.discord.all_now()
    return env


def _command(question: str | None, name: str = "ask") -> dict[str, object]:
    options = [] if question is None else [{"type": 3, "name": "question", "value": question}]
    return {
        "id": "1200000000000000001",
        "application_id": APP_ID,
        "type": 2,
        "token": "aW50ZXJhY3Rpb24tdG9rZW4",
        "version": 1,
        "guild_id": "1300000000000000001",
        "channel_id": "1300000000000000002",
        "member": {"user": {"id": "1400000000000000001", "username": "ada"}},
        "data": {"id": "1500000000000000001", "name": name, "type": 1, "options": options},
    }


def test_ping_signed_with_the_right_key_gets_pong(discord_env: DiscordEnv) -> None:
    r = discord_env.post({"type": 1, "id": "1", "application_id": APP_ID, "token": "t", "version": 1})
    assert r.status_code == 200
    assert r.json() == {"type": 1}


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda b: signed(b, key=SigningKey.generate()), id="other-key"),
        pytest.param(lambda b: signed(b + b" "), id="body-tampered"),
        pytest.param(lambda b: {**signed(b), "X-Signature-Timestamp": "1"}, id="timestamp-swapped"),
        pytest.param(lambda b: {**signed(b), "X-Signature-Ed25519": "zz"}, id="not-hex"),
        pytest.param(lambda b: {"Content-Type": "application/json"}, id="unsigned"),
    ],
)
def test_bad_signature_is_401(discord_env: DiscordEnv, make_headers) -> None:
    body = json.dumps({"type": 1}).encode()
    r = httpx.post(f"{discord_env.url}/discord/interactions", content=body, headers=make_headers(body))
    assert r.status_code == 401
    assert r.json()["ok"] is False


def test_ask_defers_then_sends_the_answer_as_a_webhook_follow_up(discord_env: DiscordEnv) -> None:
    r = discord_env.post(_command("how do I run work after the response?"))
    assert r.status_code == 200
    assert r.json() == {"type": 5}  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE

    sent = discord_env.discord.next()
    assert sent.method == "POST"
    assert sent.path == f"/api/v10/webhooks/{APP_ID}/aW50ZXJhY3Rpb24tdG9rZW4"
    assert "authorization" not in sent.headers  # the interaction token is the credential
    assert sent.headers["content-type"] == "application/json"
    msg = sent.json()
    assert msg["allowed_mentions"] == {"parse": []}  # "@everyone" from the model pings no one
    assert "[\\[1\\]](<https://docs.example/background#add-a-task>)" in msg["content"]
    assert "[\\[1\\] Background](<https://docs.example/background#add-a-task>)" in msg["content"]
    assert discord_env.answerer.calls == [("demo", "how do I run work after the response?", None)]
    assert discord_env.answerer.channels == ["discord"]  # the question log says where it came from


def test_refusal_says_so_with_closest_links(discord_env: DiscordEnv) -> None:
    discord_env.answerer.answer = Answer(
        answer="",
        refused=True,
        confidence=0.02,
        citations=[],
        conversation_id="c",
        closest=[citation(1, "docs/settings.md", "https://docs.example/settings", "Settings")],
    )
    assert discord_env.post(_command("who won the 1998 world cup?")).json() == {"type": 5}
    content = discord_env.discord.next().json()["content"]
    assert "don't cover this" in content
    assert "**Closest pages**" in content and "(<https://docs.example/settings>)" in content


def test_missing_question_and_unknown_command_answer_ephemerally(discord_env: DiscordEnv) -> None:
    for payload in (_command(None), _command("x", name="other")):
        r = discord_env.post(payload)
        assert r.status_code == 200
        body = r.json()
        assert body["type"] == 4 and body["data"]["flags"] == 64
    assert discord_env.answerer.calls == []


def test_not_an_interaction_is_400(discord_env: DiscordEnv) -> None:
    body = b"[1, 2"
    r = httpx.post(f"{discord_env.url}/discord/interactions", content=body, headers=signed(body))
    assert r.status_code == 400


def test_long_answers_fit_discord_and_keep_their_links() -> None:
    long = Answer(
        answer="word " * 1000 + "[1]",
        refused=False,
        confidence=0.9,
        citations=[citation(1, "a.md", "https://docs.example/a", "A")],
        conversation_id="c",
    )
    text = discord_text(long, "demo")
    assert len(text) <= DISCORD_MAX_CHARS
    assert text.endswith("[\\[1\\] A](<https://docs.example/a>)")


def test_register_command_posts_the_ask_command() -> None:
    with recording_server() as discord:
        result = register_commands(
            api_base=f"{discord.url}/api/v10", app_id=APP_ID, bot_token="bot-secret", guild_id="42"
        )
        req = discord.next()
    assert result["ok"] is True
    assert req.method == "POST"
    assert req.path == f"/api/v10/applications/{APP_ID}/guilds/42/commands"
    assert req.headers["authorization"] == "Bot bot-secret"
    assert req.json() == ASK_COMMAND
    assert req.json()["options"][0] == {
        "type": 3,
        "name": "question",
        "description": "What do you want to know?",
        "required": True,
    }


def test_discord_register_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with recording_server() as discord:
        monkeypatch.setenv("DISCORD_API_BASE", f"{discord.url}/api/v10")
        monkeypatch.setenv("DISCORD_APP_ID", APP_ID)
        monkeypatch.setenv("DISCORD_BOT_TOKEN", "bot-secret")
        assert cli_main(["discord-register"]) == 0
        assert discord.next().path == f"/api/v10/applications/{APP_ID}/commands"
    assert "/ask" in capsys.readouterr().out


def test_discord_register_cli_without_token_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_APP_ID", APP_ID)
    assert cli_main(["discord-register"]) == 2
    assert "DISCORD_BOT_TOKEN" in capsys.readouterr().err


@given(payload=mutated(_command("How do I add a background task?")) | mutated({"type": 1}) | JSON)
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_signed_but_malformed_interactions_never_cause_a_server_error(
    discord_env: DiscordEnv,
    payload,  # noqa: ANN001
) -> None:
    # Signed correctly, so the bridge parses what a buggy or hostile client could send.
    r = discord_env.post(payload)  # type: ignore[arg-type]
    assert r.status_code < 500, (r.status_code, r.text[:300], payload)
    assert "Traceback" not in r.text


def test_command_whose_data_is_not_an_object_gets_usage(discord_env: DiscordEnv) -> None:
    # Found by the fuzz test below: `"data": 1` was a 500.
    for data in (1, "ask", [], {"name": "ask", "options": 7}):
        r = discord_env.post({**_command("How?"), "data": data})
        assert r.status_code == 200 and r.json()["data"]["flags"] == 64
    assert discord_env.answerer.calls == []
