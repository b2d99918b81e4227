"""Chinese questions about English-only docs are translated into English before retrieval.

The multilingual embedder finds English pages for Chinese questions, but the stronger English
ordering (all-mpnet-base-v2) and BM25 cannot read Chinese: on Pydantic's 10 translated questions
served MRR@10 was 0.54 in Chinese, 0.67 after the local 0.5B model's translation, 0.69 for the
English originals (eval/results/answers-pydantic.md). The answer is still written in Chinese: only
the retrieval query changes. A translation that fails any check is dropped and the original
question is used, so this can only cost the one short model call.
"""

from __future__ import annotations

import asyncio
import logging

from retrieval.tokenize import has_cjk
from service.llm.base import BaseLLM, Message

log = logging.getLogger(__name__)

SYSTEM = (
    "You translate user questions about software from Chinese to English. Keep code, identifiers, "
    "names, versions and error messages exactly. Reply with the English question only."
)
# Asked as a task on the text, not as the bare question: given the bare question the 0.5B model
# answers it instead of translating it.
INSTRUCTION = "Translate this question into English; do not answer it.\n\n"
MAX_TOKENS = 160
TIMEOUT_S = 20.0  # ~3-7 s here; past this the model is busy or stuck and the original question will do


def translation_messages(question: str) -> list[Message]:
    return [Message("system", SYSTEM), Message("user", INSTRUCTION + question)]


def clean_translation(question: str, text: str) -> str | None:
    """The model's reply as a retrieval query, or None when it is not a translation: still
    Chinese, an answer (code blocks, several paragraphs), or far longer than the question."""
    text = text.strip().strip('"“”').strip()
    if not text or "```" in text or "\n\n" in text:
        return None
    cjk = sum(1 for ch in text if has_cjk(ch))
    if cjk > 0.1 * len(text):
        return None
    if len(text) > 4 * len(question) + 80:  # a Chinese character is about one English word
        return None
    return text


async def to_english(llm: BaseLLM, question: str) -> str | None:
    """English version of `question` for retrieval, or None (keep the original)."""
    try:
        completion = await asyncio.wait_for(
            llm.complete(translation_messages(question), max_tokens=MAX_TOKENS), TIMEOUT_S
        )
    except Exception as exc:  # the model down or slow: retrieval in Chinese still works
        log.info("query translation skipped: %s", exc)
        return None
    return clean_translation(question, completion.text)
