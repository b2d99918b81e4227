"""Builds the answer pipeline in the app lifespan: one shared `httpx.AsyncClient`, the LLM
backend (service/llm/factory.py), the conversation store, the question log
(`app.state.questions`) and the `Answerer` on `app.state.answerer`. A failure here never
stops the app: /search keeps working and /ask answers 503 with the reason."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI

from service.answer import Answerer
from service.answer.cache import AnswerCache
from service.container import Components
from service.conversations import Conversations, open_conversations
from service.llm.base import BaseLLM
from service.llm.factory import LocalLLM, build_llm
from service.project_thresholds import ProjectThresholds
from service.question_log import QUESTION_LOG_FILE, QuestionLog
from service.settings import Settings

log = logging.getLogger("ossqa")


@dataclass
class AnswerParts:
    client: httpx.AsyncClient | None = None
    llm: BaseLLM | None = None
    conversations: Conversations | None = None
    tasks: list[asyncio.Task[object]] = field(default_factory=list)

    async def aclose(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.llm is not None:
            await self.llm.aclose()
        if self.client is not None:
            await self.client.aclose()
        if self.conversations is not None:
            self.conversations.close()


async def start_answers(app: FastAPI, settings: Settings, comps: Components) -> AnswerParts:
    parts = AnswerParts()
    app.state.answerer = None
    app.state.questions = None
    app.state.project_thresholds = None
    try:
        parts.client = httpx.AsyncClient()
        parts.llm = build_llm(settings, parts.client)
        parts.conversations = open_conversations(
            data_dir=Path(settings.ossqa_data_dir), database_url=settings.database_url
        )
        app.state.project_thresholds = ProjectThresholds(Path(settings.ossqa_data_dir))
        if settings.question_log:
            app.state.questions = QuestionLog(Path(settings.ossqa_data_dir) / QUESTION_LOG_FILE)
        app.state.answerer = Answerer(
            comps.retriever,
            parts.llm,
            parts.conversations,
            questions=app.state.questions,
            cache=AnswerCache(settings.answer_cache_entries) if settings.answer_cache_entries else None,
            refusal_threshold=settings.refusal_threshold,
            project_thresholds=app.state.project_thresholds,
            refusal_signal=settings.refusal_signal,
            max_tokens=settings.llm_max_tokens,
        )
    except Exception as exc:  # the rest of the API must still come up
        log.exception("answer pipeline did not start: %s", exc)
        return parts
    if settings.llm_autostart and isinstance(parts.llm, LocalLLM):
        parts.tasks.append(asyncio.create_task(_warm(parts.llm)))
    return parts


async def _warm(llm: LocalLLM) -> None:
    try:
        await llm.ready()
        log.info("local language model ready at %s", llm.server.base_url if llm.server else "?")
    except Exception as exc:  # reported again, clearly, by the /ask that needs it
        log.warning("local language model did not start: %s", exc)
