"""Fit the project's query adapter (retrieval/adapter.py) on the reranker's answerable
queries: fitted on the train split, checked on the held-out test split, and installed
only if it ranks those held-out queries' source chunks better than no adapter does."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.adapter import DEFAULT_CONFIG, AdapterConfig, apply_adapter, fit_query_adapter, ranking_quality
from retrieval.embedders.base import BaseEmbedder
from retrieval.rerank.training.pairs import Query
from retrieval.rerank.training.passages import Passage, pair_text


def train_query_adapter(
    queries: Sequence[Query],
    passages: Sequence[Passage],
    embedder: BaseEmbedder,
    out_file: Path,
    config: AdapterConfig = DEFAULT_CONFIG,
) -> dict[str, Any]:
    """Writes `out_file` when the adapter helps on held-out queries, removes it otherwise.
    Returns what the manifest records."""
    t0 = time.perf_counter()
    index = {p.key: i for i, p in enumerate(passages)}
    usable = [q for q in queries if q.source is not None and q.source.key in index]
    train = [q for q in usable if q.split != "test"]
    test = [q for q in usable if q.split == "test"]
    if not train or not test:
        out_file.unlink(missing_ok=True)
        return {"installed": False, "reason": "too few queries"}
    # Exactly the vectors the store holds: the same text, the same embedder.
    docs = embedder.embed_documents([pair_text(p.breadcrumb, p.title, p.text) for p in passages])

    def encode(qs: list[Query]) -> tuple[np.ndarray, np.ndarray]:
        vecs = np.vstack([embedder.embed_query(q.text) for q in qs])
        return vecs, np.array([index[q.source.key] for q in qs])  # type: ignore[union-attr]

    train_q, train_y = encode(train)
    test_q, test_y = encode(test)
    w = fit_query_adapter(train_q, train_y, docs, config)
    before = ranking_quality(test_q, test_y, docs)
    after = ranking_quality(np.vstack([apply_adapter(w, v) for v in test_q]), test_y, docs)
    installed = after["mrr@10"] > before["mrr@10"]
    if installed:
        tmp = out_file.with_name(out_file.name + ".tmp")
        with open(tmp, "wb") as f:
            np.save(f, w.astype(np.float32))
        os.replace(tmp, out_file)  # a running server never reads half a file
    else:
        out_file.unlink(missing_ok=True)
    return {
        "installed": installed,
        "train_queries": len(train),
        "heldout_queries": len(test),
        "heldout_before": before,
        "heldout_after": after,
        "l2": config.l2,
        "epochs": config.epochs,
        "seconds": round(time.perf_counter() - t0, 1),
    }
