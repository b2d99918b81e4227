"""Rerankers reorder fused candidates and attach a relevance probability."""

from __future__ import annotations

from abc import ABC, abstractmethod

from retrieval.types import Hit


class BaseReranker(ABC):
    name: str = "base"

    @abstractmethod
    def rerank(self, query: str, hits: list[Hit], *, project: str) -> list[Hit]:
        """Return hits best first; each hit's score becomes the reranker's score and
        `scores["rerank"]` holds it (a probability in [0, 1] where the model gives one)."""
