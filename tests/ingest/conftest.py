"""Fixtures for the ingest tests: the real embedder counted, a real embedded store in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_helpers import CountingEmbedder

from retrieval.embedders import BaseEmbedder
from retrieval.store.edge import EdgeStore


@pytest.fixture
def counting_embedder(embedder: BaseEmbedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


@pytest.fixture
def edge_store(tmp_path: Path, embedder: BaseEmbedder) -> Iterator[EdgeStore]:
    store = EdgeStore(tmp_path / "store", dim=embedder.dim)
    yield store
    store.close()
