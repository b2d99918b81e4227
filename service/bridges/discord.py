"""Discord bot as an HTTP interactions endpoint at `POST /discord/interactions`.

- Every request is checked with Ed25519 against `DISCORD_PUBLIC_KEY` (PyNaCl); a bad or
  missing signature gets 401, as Discord requires.
- PING (type 1) -> `{"type": 1}`.
- `/ask question:...` (type 2) -> a deferred response (type 5, "thinking…") at once, then the
  answer as a follow-up message through the webhook API (the first follow-up after a deferral
  takes the place of the "thinking…" message):
  `POST {DISCORD_API_BASE}/webhooks/{application_id}/{interaction_token}`.
- `ossqa discord-register` creates the `/ask` command (`register_commands`).

Discord app setup: Interactions Endpoint URL = `https://HOST/discord/interactions`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from fastapi import APIRouter, BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from service.bridges.base import ask, error_answer
from service.bridges.format import discord_text
from service.errors import error_body
from service.settings import Settings

log = logging.getLogger("ossqa.discord")
router = APIRouter()

PING, APPLICATION_COMMAND = 1, 2
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE = 1, 4, 5
EPHEMERAL = 1 << 6

ASK_COMMAND: dict[str, Any] = {
    "name": "ask",
    "type": 1,  # CHAT_INPUT
    "description": "Ask the project's docs a question",
    "options": [
        {"type": 3, "name": "question", "description": "What do you want to know?", "required": True}
    ],
}


def verify_signature(public_key_hex: str, signature_hex: str, timestamp: str, body: bytes) -> bool:
    """Discord signs timestamp + raw body with the application's Ed25519 key."""
    try:
        VerifyKey(bytes.fromhex(public_key_hex)).verify(
            timestamp.encode() + body, bytes.fromhex(signature_hex)
        )
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def _option(data: dict[str, Any], name: str) -> str:
    options = data.get("options")
    for opt in options if isinstance(options, list) else []:
        if isinstance(opt, dict) and opt.get("name") == name:
            return str(opt.get("value", ""))
    return ""


def _message(content: str, *, ephemeral: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"content": content, "allowed_mentions": {"parse": []}}
    if ephemeral:
        data["flags"] = EPHEMERAL
    return {"type": CHANNEL_MESSAGE, "data": data}


async def send_answer(app: FastAPI, settings: Settings, interaction: dict[str, Any], question: str) -> None:
    """Answer, then send it as the interaction's follow-up message through the webhook API."""
    project = settings.discord_project
    try:
        answer = await ask(app, project, question, None, channel="discord")
    except Exception as exc:  # shown in Discord rather than lost in a background task
        log.exception("discord /ask failed")
        answer = error_answer(exc)
    content = discord_text(answer, project)
    app_id = interaction.get("application_id") or settings.discord_app_id
    url = f"{settings.discord_api_base.rstrip('/')}/webhooks/{app_id}/{interaction['token']}"
    # allowed_mentions: model output must never ping @everyone or a user.
    payload = {"content": content, "allowed_mentions": {"parse": []}}
    try:
        async with httpx.AsyncClient(timeout=15) as client:
            resp = await client.post(url, json=payload)
            resp.raise_for_status()
    except httpx.HTTPError as exc:
        log.error("discord follow-up failed: %s", exc)


@router.post("/discord/interactions", include_in_schema=False)
async def discord_interactions(request: Request, background: BackgroundTasks) -> JSONResponse:
    settings: Settings = request.app.state.settings
    if not settings.discord_public_key:
        msg = "the Discord bridge is off: set DISCORD_PUBLIC_KEY (and DISCORD_APP_ID, DISCORD_PROJECT)"
        return JSONResponse(error_body(msg, 503), status_code=503)
    body = await request.body()
    signature = request.headers.get("x-signature-ed25519", "")
    timestamp = request.headers.get("x-signature-timestamp", "")
    if not verify_signature(settings.discord_public_key, signature, timestamp, body):
        return JSONResponse(error_body("invalid request signature", 401), status_code=401)
    try:
        interaction = json.loads(body)
        kind = interaction["type"]
    except (ValueError, KeyError, TypeError):
        return JSONResponse(error_body("body is not a Discord interaction", 400), status_code=400)

    if kind == PING:
        return JSONResponse({"type": PONG})
    if kind != APPLICATION_COMMAND:
        return JSONResponse(_message("This bot only answers the `/ask` command.", ephemeral=True))
    data = interaction.get("data")
    data = data if isinstance(data, dict) else {}  # a signed but malformed interaction
    if data.get("name") != "ask":
        return JSONResponse(_message(f"Unknown command `/{data.get('name')}`.", ephemeral=True))
    question = _option(data, "question").strip()
    if not question or not isinstance(interaction.get("token"), str):
        return JSONResponse(_message("Usage: `/ask question: how do I ...?`", ephemeral=True))
    background.add_task(send_answer, request.app, settings, interaction, question[:2000])
    return JSONResponse({"type": DEFERRED_CHANNEL_MESSAGE})


def register_commands(
    *,
    api_base: str,
    app_id: str,
    bot_token: str,
    guild_id: str = "",
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Create (or update) the `/ask` command. Guild commands appear at once; global ones
    can take up to an hour. Returns Discord's command object."""
    if not app_id or not bot_token:
        raise ValueError("set DISCORD_APP_ID and DISCORD_BOT_TOKEN to register commands")
    path = f"/applications/{app_id}" + (f"/guilds/{guild_id}" if guild_id else "") + "/commands"
    http = client or httpx.Client(timeout=15)
    try:
        resp = http.post(
            api_base.rstrip("/") + path,
            json=ASK_COMMAND,
            headers={"Authorization": f"Bot {bot_token}"},
        )
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]
    finally:
        if client is None:
            http.close()
