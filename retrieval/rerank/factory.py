"""Rerankers by name (RERANKER). A new reranker adds one line here."""

from __future__ import annotations

from pathlib import Path

from retrieval.embedders.base import BaseEmbedder
from retrieval.rerank.base import BaseReranker
from retrieval.rerank.noop import NoopReranker

RERANKERS = ("cross-encoder", "none")


def create_reranker(
    name: str,
    *,
    data_dir: Path,
    embedder: BaseEmbedder | None = None,
    threads: int = 1,
    en_max_length: int | None = None,
    ce_top_n: int | None = None,
) -> BaseReranker:
    if name == "none":
        return NoopReranker()
    if name == "cross-encoder":
        from retrieval.rerank.cross_encoder import CE_TOP_N, EN_MAX_LENGTH, CrossEncoderReranker

        return CrossEncoderReranker(
            data_dir=data_dir,
            embedder=embedder,
            threads=threads,
            en_max_length=en_max_length or EN_MAX_LENGTH,
            ce_top_n=CE_TOP_N if ce_top_n is None else ce_top_n,
        )
    raise ValueError(f"unknown reranker {name!r}; choose one of {list(RERANKERS)}")
