"""What every bridge does the same way: find the project and call the shared answerer."""

from __future__ import annotations

from fastapi import FastAPI

from service.types import Answer


class BridgeError(Exception):
    """A bridge cannot answer (not configured, answerer missing); shown to the chat user."""


def resolve_project(app: FastAPI, configured: str) -> str:
    """The configured project, or the only one indexed when none is configured."""
    if configured:
        return configured
    components = getattr(app.state, "components", None)
    names = sorted(components.store.projects()) if components is not None else []
    if len(names) == 1:
        return names[0]
    raise BridgeError("no project configured for this bot: set SLACK_PROJECT / DISCORD_PROJECT")


async def ask(
    app: FastAPI, configured_project: str, question: str, conversation_id: str | None, *, channel: str
) -> Answer:
    """`app.state.answerer.ask(...)` for the bridge's project (same contract as `/ask`)."""
    answerer = getattr(app.state, "answerer", None)
    if answerer is None:
        raise BridgeError("the answering service is not running")
    project = resolve_project(app, configured_project)
    return await answerer.ask(project, question, conversation_id=conversation_id, channel=channel)  # type: ignore[no-any-return]


def error_answer(exc: Exception) -> Answer:
    """An Answer carrying only the failure, rendered like any other by the formatters."""
    return Answer(answer="", refused=False, confidence=0.0, citations=[], conversation_id="", error=str(exc))
