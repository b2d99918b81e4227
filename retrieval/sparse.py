"""BM25 as sparse vectors: the document side carries the TF part, Qdrant adds IDF.

Qdrant's `Modifier.IDF` multiplies each query term by the collection's IDF at query time,
so a document value of tf*(k1+1)/(tf + k1*(1-b+b*dl/avgdl)) and a query value of the term's
count give exactly the BM25 sum. `avgdl` is a fixed parameter (recomputing it would mean
rewriting every vector); it only shifts length normalisation.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

from retrieval.tokenize import tokenize


def token_id(token: str) -> int:
    """Stable 32-bit id for a token (Qdrant sparse indices are u32)."""
    return zlib.crc32(token.encode("utf-8"))


@dataclass(frozen=True)
class SparseVec:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.2
    b: float = 0.75
    avgdl: float = 120.0


def _merge(counts: Counter[str]) -> dict[int, float]:
    merged: dict[int, float] = {}
    for tok, n in counts.items():
        idx = token_id(tok)
        merged[idx] = merged.get(idx, 0.0) + n
    return merged


def document_vector(text: str, params: BM25Params = BM25Params()) -> SparseVec:
    tokens = tokenize(text)
    dl = len(tokens)
    norm = params.k1 * (1 - params.b + params.b * dl / params.avgdl)
    tf = _merge(Counter(tokens))
    indices = sorted(tf)
    values = [tf[i] * (params.k1 + 1) / (tf[i] + norm) for i in indices]
    return SparseVec(indices, values)


def query_vector(text: str) -> SparseVec:
    tf = _merge(Counter(tokenize(text)))
    indices = sorted(tf)
    return SparseVec(indices, [tf[i] for i in indices])
