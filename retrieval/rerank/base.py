"""Rerankers reorder fused candidates and attach a relevance probability."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from retrieval.types import Hit


class BaseReranker(ABC):
    name: str = "base"

    @abstractmethod
    def rerank(self, query: str, hits: list[Hit], *, project: str) -> list[Hit]:
        """Return hits best first; each hit's score becomes the reranker's score and
        `scores["rerank"]` holds it (a probability in [0, 1] where the model gives one)."""

    def start(self, query: str, *, project: str) -> Callable[[list[Hit]], list[Hit]]:
        """Begin the work that needs only the question, while first-stage retrieval runs;
        the returned function reranks the candidates. By default nothing starts early."""
        return lambda hits: self.rerank(query, hits, project=project)

    def forget(self, project: str) -> None:
        """Drop whatever is held in memory for a deleted project. Nothing by default."""
        return None
