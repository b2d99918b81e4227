"""The answer cache's key and bounds (pure logic; the end-to-end behaviour with the real model
is in tests/integration/test_ask_llm.py)."""

from __future__ import annotations

from service.answer.cache import AnswerCache, prompt_key
from service.llm.base import Message
from service.types import Answer


def _answer(text: str) -> Answer:
    return Answer(answer=text, refused=False, confidence=0.9, citations=[], conversation_id="c")


def test_the_key_changes_with_any_part_of_the_prompt() -> None:
    base = [Message("system", "rules"), Message("user", "[1] Timeouts: 42 s\\nQ: timeout?")]
    same = [Message("system", "rules"), Message("user", "[1] Timeouts: 42 s\\nQ: timeout?")]
    edited = [Message("system", "rules"), Message("user", "[1] Timeouts: 60 s\\nQ: timeout?")]
    follow = [Message("user", "earlier"), *base]
    assert prompt_key("m|256", base) == prompt_key("m|256", same)
    keys = {prompt_key("m|256", base), prompt_key("m|256", edited), prompt_key("m|256", follow)}
    assert len(keys | {prompt_key("other|256", base), prompt_key("m|128", base)}) == 5


def test_least_recently_used_answers_leave_first() -> None:
    cache = AnswerCache(max_entries=2)
    cache.put("a", _answer("A"))
    cache.put("b", _answer("B"))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", _answer("C"))
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 2
    off = AnswerCache(max_entries=0)
    off.put("a", _answer("A"))
    assert off.get("a") is None
