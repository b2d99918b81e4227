"""Per-candidate features the calibrated scorer combines, as plain functions.

The cross-encoder reads MiniLM's English word pieces only: Chinese characters become
[UNK], so for a Chinese question it sees nothing but the code identifiers in it. The
multilingual dense embedder (USE, cross-lingual) and jieba-aware lexical overlap carry the
Chinese side; a small logistic model per query language weighs the four features and turns
them into a probability (fitted on held-out generated data, see training/calibrate.py).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from retrieval.tokenize import tokenize

FEATURES = ("ce_logit", "dense_cos", "lexical", "fused_rank")


@functools.lru_cache(maxsize=8192)
def _token_set(passage: str) -> frozenset[str]:
    # The same candidates come back query after query; jieba makes tokenising 20 of them ~20 ms.
    return frozenset(tokenize(passage))


def lexical_coverage(query_tokens: set[str], passage: str) -> float:
    """Share of the query's distinct BM25 tokens that occur in the passage."""
    if not query_tokens:
        return 0.0
    return len(query_tokens & _token_set(passage)) / len(query_tokens)


def feature_matrix(
    ce_logits: np.ndarray, dense_cos: np.ndarray, query: str, passages: list[str]
) -> np.ndarray:
    """Rows = candidates in fused order (rank 0 first), columns = FEATURES."""
    q_tokens = set(tokenize(query))
    lex = [lexical_coverage(q_tokens, p) for p in passages]
    rank = [math.log1p(i) for i in range(len(passages))]
    return np.column_stack([ce_logits, dense_cos, lex, rank]).astype(np.float64)


def logistic(x: np.ndarray, weights: dict[str, object]) -> np.ndarray:
    w = np.asarray(weights["w"], dtype=np.float64)
    z = x @ w + float(weights["b"])  # type: ignore[arg-type]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
