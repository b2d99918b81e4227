from __future__ import annotations

from retrieval.rerank.base import BaseReranker
from retrieval.types import Hit


class NoopReranker(BaseReranker):
    """Keeps the fused order (RERANKER=none, or `rerank: false` on a request)."""

    name = "none"

    def rerank(self, query: str, hits: list[Hit], *, project: str) -> list[Hit]:
        return hits
