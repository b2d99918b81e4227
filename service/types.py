"""The answer contract shared by `/ask`, the widget and the Slack/Discord bridges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Citation:
    n: int  # the [n] marker in the answer
    path: str
    url: str
    title: str
    quote: str  # verbatim span of the cited passage


@dataclass(frozen=True)
class Answer:
    answer: str
    refused: bool
    confidence: float
    citations: list[Citation]
    conversation_id: str
    # Closest links shown with a refusal (and available to every channel).
    closest: list[Citation] = field(default_factory=list)
    error: str = ""  # set when the LLM failed; citations are still filled
    timings_ms: dict[str, float] = field(default_factory=dict)


class AnswererProtocol(Protocol):
    """What channels need. `service/answer/answerer.py:Answerer` implements it."""

    async def ask(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> Answer: ...

    def stream(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> AsyncIterator[dict[str, Any]]:
        """Yields {"type": "token", "text": ...} events, then one {"type": "final", **Answer fields}."""
        ...
