"""`Answerer`: one question from `/ask` (or its stream) to the answer, in order:
prepare (condense a follow-up, retrieve, decide on confidence, choose passages) -> refuse, or
take the answer given to the same prompt before (cache.py), or prompt the model -> verify
(question's language, citations, fallbacks) -> remember the turn and log the question."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from retrieval.tokenize import has_cjk, question_lang
from retrieval.types import Hit
from service.answer.cache import AnswerCache, prompt_key
from service.answer.citations import attribute, citation_for, closest_links
from service.answer.fallbacks import (
    echoes_prompt,
    echoes_so_far,
    extractive_answer,
    model_declined,
    refusal_message,
    restates_question,
    says_nothing,
    strip_echo,
)
from service.answer.passages import MAX_PASSAGES, PASSAGE_CHARS, Passage, select_passages
from service.answer.prompt import build_prompt, build_translation_prompt, code_lines, needs_translation
from service.confidence import Confidence, ConfidenceScorer, RefusalSignal
from service.conversations import Conversations, Turn, condense_query
from service.errors import AnswerError, LLMUnavailable, status_for
from service.llm.base import BaseLLM, Message
from service.project_thresholds import ProjectThresholds
from service.question_log import LoggedQuestion, Outcome, QuestionLog
from service.types import Answer, Citation

RETRIEVE_K = 8

log = logging.getLogger("ossqa")


@dataclass
class AnswerStats:
    """Counters for measurement (eval/answers.py reads them)."""

    asked: int = 0
    refused_confidence: int = 0
    answered: int = 0
    answers_with_markers: int = 0  # the model cited at least one valid [n] itself
    answers_attributed_by_overlap: int = 0  # at least one sentence needed attribution
    answers_only_by_overlap: int = 0  # no valid marker at all: all by attribution
    invalid_markers_removed: int = 0
    answers_translated: int = 0  # a Chinese question's English answer translated (second call)
    answers_extractive: int = 0  # echo, restated question or declined: quotes of the top passages instead
    answers_echoed: int = 0  # of those, the model copied the prompt's passages
    generations_stopped_on_echo: int = 0  # of those, the model was stopped at the first fence
    model_declined: int = 0  # of those, the model said the passages do not answer
    answers_markers_only: int = 0  # of those, the model wrote citation markers and nothing else
    errors: int = 0
    answers_from_cache: int = 0  # the same prompt was answered before: no model call


@dataclass
class Prepared:
    """What retrieval and the refusal decision produced for one question: everything the
    generation half needs."""

    project: str
    channel: str  # where the question came from: api, widget, slack, discord
    conversation_id: str
    question: str
    standalone: str
    history: list[Turn]
    hits: list[Hit]
    passages: list[Passage]
    confidence: Confidence
    closest: list[Citation]
    timings: dict[str, float]
    started: float

    @classmethod
    def given(cls, question: str, passages: list[Passage]) -> Prepared:
        """Passages chosen elsewhere (a stored eval run replayed on another model): confident,
        no conversation."""
        return cls(
            project="",
            channel="",
            conversation_id="given",
            question=question,
            standalone=question,
            history=[],
            hits=[p.hit for p in passages],
            passages=passages,
            confidence=Confidence(value=1.0, threshold=0.0, source="given"),
            closest=[],
            timings={},
            started=time.perf_counter(),
        )


class Answerer:
    """Implements service.types.AnswererProtocol."""

    def __init__(
        self,
        retriever: Any,
        llm: BaseLLM | None,
        conversations: Conversations | None = None,
        *,
        questions: QuestionLog | None = None,
        cache: AnswerCache | None = None,
        refusal_threshold: float | None = None,
        project_thresholds: ProjectThresholds | None = None,
        refusal_signal: RefusalSignal = "fallback",
        max_tokens: int = 256,
        max_passages: int = MAX_PASSAGES,
        passage_chars: int = PASSAGE_CHARS,
        llm_error: str = "",
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.conversations = conversations
        self.questions = questions  # what was asked and what became of it, for maintainers
        self.cache = cache  # answers by the exact prompt: a repeated question skips the model
        self.max_tokens = max_tokens
        self.max_passages = max_passages
        self.passage_chars = passage_chars
        self.llm_error = llm_error  # why there is no model (shown instead of generating)
        self.scorer = ConfidenceScorer(
            embedder=retriever.embedder,
            store=retriever.store,
            reranker=getattr(retriever, "reranker", None),
            threshold=refusal_threshold,
            signal=refusal_signal,
            per_project=project_thresholds,
        )
        self.stats = AnswerStats()

    # -- retrieval and decision (sync; run in a worker thread)

    def prepare(
        self, project: str, question: str, conversation_id: str | None, channel: str = "api"
    ) -> Prepared:
        started = time.perf_counter()
        cid = conversation_id or uuid.uuid4().hex
        history = self.conversations.history(cid) if self.conversations and conversation_id else []
        standalone = condense_query(question, history)
        t0 = time.perf_counter()
        stages: dict[str, float] = {}
        hits = self.retriever.search(project, standalone, top_k=RETRIEVE_K, timings=stages)
        t1 = time.perf_counter()
        confidence = self.scorer.score(project, standalone, hits)
        t2 = time.perf_counter()
        passages = select_passages(hits, k=self.max_passages, chars=self.passage_chars)
        timings = {
            "retrieval_ms": (t1 - t0) * 1e3,
            "confidence_ms": (t2 - t1) * 1e3,
            **stages,
        }
        return Prepared(
            project=project,
            channel=channel,
            conversation_id=cid,
            question=question,
            standalone=standalone,
            history=history,
            hits=hits,
            passages=passages,
            confidence=confidence,
            closest=closest_links(hits),
            timings=timings,
            started=started,
        )

    async def _prepare(
        self, project: str, question: str, conversation_id: str | None, channel: str
    ) -> Prepared:
        return await asyncio.to_thread(self.prepare, project, question, conversation_id, channel)

    def _messages(self, prep: Prepared, project: str) -> list[Message]:
        return build_prompt(prep.question, prep.passages, prep.history, project=project)

    def _refusal(self, prep: Prepared, project: str) -> Answer:
        self.stats.refused_confidence += 1
        return self._finish(
            prep,
            Answer(
                answer=refusal_message(prep.question, project, prep.closest),
                refused=True,
                confidence=prep.confidence.value,
                citations=[],
                conversation_id=prep.conversation_id,
                closest=prep.closest,
            ),
        )

    def _checked(self, prep: Prepared, project: str, text: str) -> Answer:
        echoed = echoes_prompt(text)
        self.stats.answers_echoed += echoed
        text = strip_echo(text)
        empty = not echoed and says_nothing(text)
        self.stats.answers_markers_only += empty
        quotes = echoed or empty or restates_question(text, prep.question)
        if not quotes:
            att = attribute(text, prep.passages, embedder=self.retriever.embedder)
            if not att.cited or model_declined(att.answer):
                # Retrieval was confident, and the 0.5B model's "the passages do not say" carries
                # no signal: as a judge it said no to answerable and unanswerable questions alike
                # (AUROC 0.46), and in every stored dev-set run it declined only answerable ones.
                # The user gets the passages' own words instead of a refusal.
                self.stats.model_declined += 1
                quotes = True
        if quotes:
            text = extractive_answer(prep.question, prep.passages, embedder=self.retriever.embedder)
            self.stats.answers_extractive += 1
            # Quotes carry their markers already; their heading line cites nothing.
            att = attribute(text, prep.passages, embedder=self.retriever.embedder, fill_missing=False)
        self.stats.invalid_markers_removed += att.markers_invalid
        self.stats.answered += 1
        if att.markers_valid:
            self.stats.answers_with_markers += 1
        if att.sentences_by_overlap:
            self.stats.answers_attributed_by_overlap += 1
            if not att.markers_valid:
                self.stats.answers_only_by_overlap += 1
        by_n = {p.n: p.hit for p in prep.passages}
        citations = [citation_for(n, by_n[n], att.support.get(n, ())) for n in att.cited]
        return self._finish(
            prep,
            Answer(
                answer=att.answer,
                refused=False,
                confidence=prep.confidence.value,
                citations=citations,
                conversation_id=prep.conversation_id,
                closest=prep.closest,
            ),
        )

    async def verify(self, prep: Prepared, project: str, raw: str) -> Answer:
        """The model's text made into the answer: in the question's language, citations checked
        and repaired, an unusable answer replaced by quotes of the passages."""
        text = await self._in_question_language(prep, raw)
        return self._checked(prep, project, text)

    async def _in_question_language(self, prep: Prepared, text: str) -> str:
        """A Chinese question's answer that came out in English is translated by a second, short
        call; when that call fails the English answer is kept (an answer beats an error)."""
        if self.llm is None or not needs_translation(prep.question, text, code_lines(prep.passages)):
            return text
        if echoes_prompt(text) or restates_question(strip_echo(text), prep.question):
            return text  # replaced by quotes in _checked: nothing worth translating
        t0 = time.perf_counter()
        try:
            completion = await self.llm.complete(
                build_translation_prompt(text), max_tokens=self.max_tokens * 2
            )
        except AnswerError:
            return text
        prep.timings["translate_ms"] = (time.perf_counter() - t0) * 1e3
        translated = completion.text.strip()
        if not has_cjk(translated):
            return text
        self.stats.answers_translated += 1
        return translated

    def _error(self, prep: Prepared, exc: Exception) -> Answer:
        self.stats.errors += 1
        prep.timings["error_status"] = float(status_for(exc))  # the HTTP status /ask answers with
        return self._finish(
            prep,
            Answer(
                answer="",
                refused=False,
                confidence=prep.confidence.value,
                citations=[citation_for(p.n, p.hit) for p in prep.passages],
                conversation_id=prep.conversation_id,
                closest=prep.closest,
                error=str(exc),
            ),
            remember=False,
        )

    def _finish(self, prep: Prepared, answer: Answer, *, remember: bool = True) -> Answer:
        timings = {
            **prep.timings,
            **answer.timings_ms,
            "total_ms": (time.perf_counter() - prep.started) * 1e3,
        }
        timings["confidence"] = prep.confidence.value
        if remember and self.conversations is not None:
            self.conversations.append(prep.conversation_id, "user", prep.question, standalone=prep.standalone)
            self.conversations.append(prep.conversation_id, "assistant", answer.answer)
        if self.questions is not None:
            self._log(self.questions, prep, answer)
        return Answer(**{**answer.__dict__, "timings_ms": timings})

    @staticmethod
    def _log(questions: QuestionLog, prep: Prepared, answer: Answer) -> None:
        outcome: Outcome = "error" if answer.error else "refused" if answer.refused else "answered"
        shown = answer.closest if answer.refused else answer.citations
        entry = LoggedQuestion(
            project=prep.project,
            question=prep.question,
            outcome=outcome,
            confidence=prep.confidence.value,
            conversation_id=prep.conversation_id,
            channel=prep.channel,
            standalone=prep.standalone if prep.standalone != prep.question else "",
            lang=question_lang(prep.question),
            paths=tuple(dict.fromkeys(c.path for c in shown)),
        )
        try:
            questions.add(entry)
        except Exception as exc:  # a full disk must not cost the user the answer
            log.warning("question log: %s", exc)

    def _no_model(self) -> AnswerError | None:
        if self.llm is None:
            return LLMUnavailable(self.llm_error or "no language model is configured")
        return None

    async def _generate(self, prep: Prepared, messages: list[Message]) -> AsyncGenerator[str, None]:
        """The model's text as it comes, for `ask` and `stream` alike. Generation stops as soon
        as the model starts copying the prompt's passages back (a line of <<< or >>>): that
        answer is replaced by quotes anyway (`_checked`), and the 0.5B model does it in about
        half of its dev-set answers, with a median 17-21 s of generation (busy machine) left
        after the first token while the delimiter comes within the first 4-8% of the text."""
        assert self.llm is not None
        pieces = self.llm.stream(messages, max_tokens=self.max_tokens)
        text = ""
        try:
            async for piece in pieces:
                if not text:
                    prep.timings["first_token_ms"] = (time.perf_counter() - prep.started) * 1e3
                text += piece
                yield piece
                if echoes_so_far(text):
                    self.stats.generations_stopped_on_echo += 1
                    return
        finally:
            await pieces.aclose()  # type: ignore[attr-defined]

    def _cached(self, prep: Prepared, messages: list[Message]) -> tuple[str | None, Answer | None]:
        """(the prompt's cache key, the answer given to the same prompt before, as this
        question's answer). Served even while the model is down."""
        if self.cache is None or self.llm is None:
            return None, None
        key = prompt_key(f"{self.llm.model}|{self.max_tokens}", messages)
        hit = self.cache.get(key)
        if hit is None:
            return key, None
        self.stats.answers_from_cache += 1
        prep.timings["cache_hit"] = 1.0
        fresh = replace(hit, conversation_id=prep.conversation_id, closest=prep.closest, timings_ms={})
        return key, self._finish(prep, fresh)

    def _keep(self, key: str | None, answer: Answer) -> Answer:
        if key is not None and self.cache is not None and not answer.error:
            self.cache.put(key, answer)
        return answer

    # -- public API

    async def ask(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> Answer:
        self.stats.asked += 1
        prep = await self._prepare(project, question, conversation_id, channel)
        if not prep.confidence.confident or not prep.passages:
            return self._refusal(prep, project)
        messages = self._messages(prep, project)  # the cache key and the model's input
        key, cached = self._cached(prep, messages)
        if cached is not None:
            return cached
        missing = self._no_model()
        if missing is not None:
            return self._error(prep, missing)
        t0 = time.perf_counter()
        gen = self._generate(prep, messages)
        try:
            raw = "".join([piece async for piece in gen])
        except AnswerError as exc:
            return self._error(prep, exc)
        finally:
            await gen.aclose()
        prep.timings["generate_ms"] = (time.perf_counter() - t0) * 1e3
        return self._keep(key, await self.verify(prep, project, raw))

    async def stream(
        self, project: str, question: str, *, conversation_id: str | None = None, channel: str = "api"
    ) -> AsyncIterator[dict[str, Any]]:
        """Token events as the model writes, then one final event with the verified answer
        (markers repaired) and citations. Closing this generator cancels generation."""
        self.stats.asked += 1
        prep = await self._prepare(project, question, conversation_id, channel)
        if not prep.confidence.confident or not prep.passages:
            answer = self._refusal(prep, project)
            yield {"type": "token", "text": answer.answer}
            yield {"type": "final", **answer_dict(answer)}
            return
        messages = self._messages(prep, project)  # the cache key and the model's input
        key, cached = self._cached(prep, messages)
        if cached is not None:
            yield {"type": "token", "text": cached.answer}
            yield {"type": "final", **answer_dict(cached)}
            return
        missing = self._no_model()
        if missing is not None:
            yield {"type": "final", **answer_dict(self._error(prep, missing))}
            return
        pieces: list[str] = []
        t0 = time.perf_counter()
        gen = self._generate(prep, messages)
        try:
            async for piece in gen:
                pieces.append(piece)
                yield {"type": "token", "text": piece}
        except AnswerError as exc:
            yield {"type": "final", **answer_dict(self._error(prep, exc))}
            return
        finally:
            await gen.aclose()
        prep.timings["generate_ms"] = (time.perf_counter() - t0) * 1e3
        # Clients show the final event's answer in place of the streamed tokens, so a translated
        # answer replaces the English one that was streamed.
        answer = self._keep(key, await self.verify(prep, project, "".join(pieces)))
        yield {"type": "final", **answer_dict(answer)}


def answer_dict(answer: Answer) -> dict[str, Any]:
    return {
        "answer": answer.answer,
        "refused": answer.refused,
        "confidence": answer.confidence,
        "citations": [c.__dict__ for c in answer.citations],
        "closest": [c.__dict__ for c in answer.closest],
        "conversation_id": answer.conversation_id,
        "error": answer.error,
        "timings_ms": answer.timings_ms,
    }
