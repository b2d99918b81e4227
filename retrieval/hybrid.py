"""Hybrid retrieval: embed the query, let Qdrant prefetch dense + BM25 and fuse them,
then rerank the top candidates.

    retriever = HybridRetriever(store=store, embedder=embedder)
    hits = retriever.search("fastapi", "How do I enable CORS?", top_k=5)
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from retrieval.embedders.base import BaseEmbedder
from retrieval.errors import IndexNotFound
from retrieval.priors import demote_changelogs
from retrieval.rerank.base import BaseReranker
from retrieval.rerank.noop import NoopReranker
from retrieval.sparse import query_vector
from retrieval.store.base import BaseStore, FusionName, SearchMode, SearchSpec
from retrieval.types import Hit

TIE_MARGIN = 10  # extra fused hits fetched so a tie at the cut is broken by id, not by the engine


@dataclass(frozen=True)
class RetrievalParams:
    prefetch_limit: int = 50  # candidates per channel before fusion
    rerank_top_n: int = 20  # fused candidates given to the reranker
    fusion: FusionName = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)  # RRF weights (dense, sparse)
    changelog_demotion: int = 3  # places a changelog page moves down (retrieval/priors.py)


class HybridRetriever:
    def __init__(
        self,
        *,
        store: BaseStore,
        embedder: BaseEmbedder,
        reranker: BaseReranker | None = None,
        params: RetrievalParams = RetrievalParams(),
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.reranker = reranker or NoopReranker()
        self.params = params

    def search(
        self,
        project: str,
        query: str,
        *,
        top_k: int = 10,
        source_types: tuple[str, ...] = (),
        mode: SearchMode = "hybrid",
        rerank: bool = True,
        per_path: int = 1,
        timings: dict[str, float] | None = None,
    ) -> list[Hit]:
        """Best passages first, at most `per_path` chunks of one document (0 = no limit):
        several chunks of one page would crowd out other pages. Stage times in ms are
        written to `timings` when given (per call: the retriever serves concurrent requests).

        Raises IndexNotFound for a project with no chunks."""
        t0 = time.perf_counter()
        use_reranker = rerank and not isinstance(self.reranker, NoopReranker)
        finish_rerank = self.reranker.start(query, project=project) if use_reranker else None
        dense = self.embedder.embed_query(query) if mode != "sparse" else None
        sparse = query_vector(query) if mode != "dense" else None
        t1 = time.perf_counter()
        want = top_k * 4 if per_path else top_k  # room for collapsing chunks of one page
        limit = max(want, self.params.rerank_top_n) if use_reranker else want
        # RRF gives equal scores to passages at the same rank of different channels, and the
        # engine orders such ties differently from one process to the next. A few extra hits,
        # sorted by id within a tie, make the candidate list (and so the reranker's batches,
        # its rank feature and refusal) the same on every run.
        hits = self.store.search(
            SearchSpec(
                project=project,
                dense=dense,
                sparse=sparse,
                limit=limit + TIE_MARGIN,
                prefetch_limit=max(self.params.prefetch_limit, limit),
                mode=mode,
                fusion=self.params.fusion,
                rrf_k=self.params.rrf_k,
                weights=self.params.weights,
                source_types=source_types,
            )
        )
        if not hits and self.store.count(project) == 0:  # counted only when needed: it costs a scan
            raise IndexNotFound(project)
        hits = sorted(hits, key=lambda h: (-h.score, h.id))[:limit]
        hits = [replace(h, scores={**h.scores, "fused": h.score}) for h in hits]
        t2 = time.perf_counter()
        if finish_rerank is not None and hits:
            # Only the top N are scored (the cost grows with N); the rest keep fused order below.
            n = self.params.rerank_top_n
            hits = finish_rerank(hits[:n]) + hits[n:]
        t3 = time.perf_counter()
        if per_path:
            hits = limit_per_path(hits, per_path)
        hits = demote_changelogs(hits, query, self.params.changelog_demotion)
        if timings is not None:
            timings.update(embed_ms=(t1 - t0) * 1e3, search_ms=(t2 - t1) * 1e3, rerank_ms=(t3 - t2) * 1e3)
        return hits[:top_k]


_LANG_CODES = r"(?:zh|cn|zh-cn|zh_cn|zh-hans|zh-hant|en|ja|ko|fr|de|es|pt|ru)"
_LANG_SUFFIX_RE = re.compile(rf"[_.\-]{_LANG_CODES}(?=\.[a-z0-9]+$)", re.I)
_LANG_DIR_RE = re.compile(rf"(^|/){_LANG_CODES}(?=/)", re.I)


def translation_key(path: str) -> str:
    """Same key for a page and its translations: README_zh.md ~ README.md,
    OVERVIEW.zh.md ~ OVERVIEW.md, docs/zh/docs/x.md ~ docs/en/docs/x.md."""
    return _LANG_DIR_RE.sub(r"\1*", _LANG_SUFFIX_RE.sub("", path)).lower()


def limit_per_path(hits: list[Hit], n: int) -> list[Hit]:
    """At most `n` chunks per page, counting a page's translations as the same page (the
    same answer twice in two languages would only crowd out other pages).

    The order decides where a page ranks; the reranker's calibrated probability
    (`scores["rerank"]`) decides which of its chunks stand there. English answers are
    ordered by the mpnet cosine, but refusal and the prompt should see the page's chunk
    the calibrated model trusts most. Without a reranker, the first chunks are kept."""
    first_path: dict[str, str] = {}
    chunks: dict[str, list[tuple[int, Hit]]] = {}
    for i, h in enumerate(hits):
        key = translation_key(h.path)
        if first_path.setdefault(key, h.path) == h.path:  # a translation of a listed page is dropped
            chunks.setdefault(key, []).append((i, h))
    chosen = {
        key: iter([h for _, h in sorted(cs, key=lambda c: (-c[1].scores.get("rerank", -1.0), c[0]))][:n])
        for key, cs in chunks.items()
    }
    out = []
    for h in hits:
        key = translation_key(h.path)
        if h.path == first_path[key] and (pick := next(chosen[key], None)) is not None:
            out.append(pick)
    return out
