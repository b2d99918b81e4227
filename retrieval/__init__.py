"""Hybrid retrieval over Qdrant: dense + BM25 sparse, fused in the engine, then reranked."""

from retrieval.errors import BackendUnavailable, IndexNotFound, RetrievalError, StoreLocked
from retrieval.hybrid import HybridRetriever, RetrievalParams
from retrieval.types import Hit

__all__ = [
    "BackendUnavailable",
    "Hit",
    "HybridRetriever",
    "IndexNotFound",
    "RetrievalError",
    "RetrievalParams",
    "StoreLocked",
]
