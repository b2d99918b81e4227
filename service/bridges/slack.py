"""Slack bot over HTTP (slack-bolt, Events API + slash command) at `POST /slack/events`.

- `@ossqa how do I ...` in a channel: the answer is posted in that message's thread
  (`chat.postMessage` on `SLACK_API_BASE`); follow-ups in the thread keep the conversation.
- `/ask how do I ...`: acknowledged at once (Slack allows 3 s), the answer goes to the
  command's `response_url` when ready.
- `X-Slack-Signature` is checked here with `SLACK_SIGNING_SECRET` (slack-sdk's verifier, the one
  Bolt would use) and anything older than 5 minutes is refused with 401; Bolt answers `url_verification`
  challenges itself. A signed body Bolt cannot read is a 400, never a 500.

Slack app setup: Event Subscriptions and the `/ask` command both point at
`https://HOST/slack/events`; bot scopes `app_mentions:read`, `chat:write`, `commands`.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from service.bridges.base import ask, error_answer
from service.bridges.format import slack_text
from service.errors import error_body
from service.settings import Settings

log = logging.getLogger("ossqa.slack")
router = APIRouter()

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_MAX_THREADS = 10_000


def clean_question(text: str) -> str:
    """Drop the bot mention(s) Slack puts in the text: '<@U123> how do I' -> 'how do I'."""
    return _MENTION.sub(" ", text).strip()


class ThreadConversations:
    """Slack thread -> answerer conversation_id, bounded (oldest threads forgotten first)."""

    def __init__(self, limit: int = _MAX_THREADS) -> None:
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def get(self, key: str) -> str | None:
        return self._ids.get(key)

    def set(self, key: str, conversation_id: str) -> None:
        self._ids[key] = conversation_id
        self._ids.move_to_end(key)
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)


def build_bolt_app(app: FastAPI, settings: Settings) -> AsyncApp:
    """The Bolt app answering for `settings.slack_project`, calling `app.state.answerer`."""
    project = settings.slack_project
    client = AsyncWebClient(token=settings.slack_bot_token or None, base_url=settings.slack_api_base)
    threads = ThreadConversations()
    kwargs: dict[str, Any] = {}
    if settings.slack_bot_token:
        kwargs["token"] = settings.slack_bot_token  # Bolt checks it once with auth.test
    else:
        # Without a bot token only the slash command can answer (through response_url).
        async def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id)

        kwargs["authorize"] = authorize
    bolt = AsyncApp(
        signing_secret=settings.slack_signing_secret,
        # slack_events checks the signature before Bolt sees the body (and before the shape
        # checks), with the same slack-sdk verifier and 5-minute rule: not twice.
        request_verification_enabled=False,
        client=client,
        process_before_response=False,  # ack first, answer after
        **kwargs,
    )

    @bolt.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any) -> None:
        question = clean_question(event.get("text", ""))
        thread_ts = event.get("thread_ts") or event.get("ts")
        if not question:
            await say(
                text="Ask me a question about the docs, e.g. `@ossqa how do I ...?`", thread_ts=thread_ts
            )
            return
        key = f"{event.get('team', '')}:{event.get('channel', '')}:{thread_ts}"
        try:
            answer = await ask(app, project, question, threads.get(key), channel="slack")
        except Exception as exc:  # reported in the thread, not lost in a background task
            log.exception("slack mention failed")
            answer = error_answer(exc)
        if answer.conversation_id:
            threads.set(key, answer.conversation_id)
        await say(text=slack_text(answer, project), thread_ts=thread_ts, unfurl_links=False)

    @bolt.command("/ask")
    async def on_ask(ack: Any, command: dict[str, Any], respond: Any) -> None:
        question = (command.get("text") or "").strip()
        if not question:
            await ack(text="Usage: `/ask how do I ...?`")
            return
        await ack(text=f":mag: Looking that up in the {project + ' ' if project else ''}docs…")
        try:
            answer = await ask(app, project, question, None, channel="slack")
        except Exception as exc:
            log.exception("slack /ask failed")
            answer = error_answer(exc)
        quoted = "> " + question.replace("\n", "\n> ")
        await respond(
            text=f"{quoted}\n{slack_text(answer, project)}",
            response_type="in_channel",
            replace_original=False,
            unfurl_links=False,
        )

    return bolt


def _handler(request: Request) -> AsyncSlackRequestHandler | None:
    state = request.app.state
    handler = getattr(state, "slack_handler", None)
    if handler is None:
        settings: Settings = state.settings
        if not settings.slack_signing_secret:
            return None
        handler = AsyncSlackRequestHandler(build_bolt_app(request.app, settings))
        state.slack_handler = handler
    return handler  # type: ignore[no-any-return]


def shape_problem(body: bytes, content_type: str) -> str | None:
    """What in a signed body Bolt would trip over, or None. Bolt reads Slack's payloads without
    checking their shapes (a bare `null`, or `"event": null`, raised inside it: a 500)."""
    if not content_type.startswith("application/json"):
        # A slash command's form fields are strings, which Bolt reads safely; a `payload`
        # field is an interactive component's JSON (buttons, modals), which this bot has none of.
        if "payload" in parse_qs(body.decode("utf-8", "replace")):
            return "interactive payloads are not used by this bot (it has no buttons or modals)"
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return "the body is not valid JSON"
    if not isinstance(payload, dict):
        return "a Slack event must be a JSON object"
    if "event" in payload and not isinstance(payload["event"], dict):
        return "`event` must be an object"
    auths = payload.get("authorizations")
    if auths is not None and not (isinstance(auths, list) and all(isinstance(a, dict) for a in auths)):
        return "`authorizations` must be a list of objects"
    return None


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    handler = _handler(request)
    if handler is None:
        msg = "the Slack bridge is off: set SLACK_SIGNING_SECRET (and SLACK_BOT_TOKEN, SLACK_PROJECT)"
        return JSONResponse(error_body(msg, 503), status_code=503)
    body = await request.body()
    verifier = SignatureVerifier(request.app.state.settings.slack_signing_secret)
    if not verifier.is_valid_request(body, dict(request.headers)):
        msg = "invalid or stale Slack request signature (checked with SLACK_SIGNING_SECRET)"
        return JSONResponse(error_body(msg, 401), status_code=401)
    problem = shape_problem(body, request.headers.get("content-type", ""))
    if problem:
        return JSONResponse(error_body(f"malformed Slack request: {problem}", 400), status_code=400)
    try:
        return await handler.handle(request)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        # Bolt reads a payload assuming Slack's shapes; the checks above catch the common
        # ones, and any other field of the wrong type (a `token` holding an object) raises
        # here. Our listeners' own errors never get here: Bolt handles those itself.
        log.warning("unreadable Slack request: %r", exc)
        msg = f"malformed Slack request: not in the shape Slack sends ({type(exc).__name__}: {exc})"
        return JSONResponse(error_body(msg[:300], 400), status_code=400)
