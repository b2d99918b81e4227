"""Answers kept by the exact prompt that produced them. On a docs site many people ask the same
question; the model is the slow part (seconds on a CPU) and decodes greedily, so the same
prompt gives the same answer. The key is the whole prompt (question, passages with their
text, conversation history) plus the model: a changed page, a retrained reranker or a
follow-up changes the prompt, and the answer is generated afresh. No TTL is needed."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence

from service.llm.base import Message
from service.types import Answer


def prompt_key(model: str, messages: Sequence[Message]) -> str:
    text = json.dumps([model, *[[m.role, m.content] for m in messages]], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AnswerCache:
    """Least recently used first out; safe from any thread."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Answer | None:
        with self._lock:
            answer = self._items.get(key)
            if answer is not None:
                self._items.move_to_end(key)
            return answer

    def put(self, key: str, answer: Answer) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._items[key] = answer
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
