from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ingest.pipeline import ChunkParams, Ingester
from ingest.sources import iter_folder
from retrieval import HybridRetriever
from retrieval.embedders import BaseEmbedder
from retrieval.store.base import BaseStore
from retrieval.store.edge import EdgeStore
from retrieval.store.qdrant import QdrantServerStore


def make_store(kind: str, tmp_path: Path, dim: int) -> BaseStore:
    if kind == "edge":
        return EdgeStore(tmp_path / "edge", dim=dim)
    return QdrantServerStore(QdrantClient(":memory:"), collection="t", dim=dim)


@pytest.fixture(params=["edge", "server"])
def indexed(
    request: pytest.FixtureRequest, tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder
) -> Iterator[HybridRetriever]:
    """The tiny corpus indexed for project `demo`, on the embedded engine and on the
    qdrant-client code path used for a Qdrant server."""
    store = make_store(request.param, tmp_path, embedder.dim)
    # Every section its own chunk, so a page has several chunks to collapse.
    Ingester(store=store, embedder=embedder, chunk_params=ChunkParams(min_tokens=0)).ingest(
        "demo", iter_folder(tiny_corpus)
    )
    yield HybridRetriever(store=store, embedder=embedder)
    store.close()
