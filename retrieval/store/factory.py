"""Pick the store: a Qdrant server when QDRANT_URL is set, else the embedded engine."""

from __future__ import annotations

from pathlib import Path

from retrieval.store.base import BaseStore


def open_store(
    *, data_dir: Path, dim: int, collection: str = "ossqa_chunks", url: str = "", api_key: str = ""
) -> BaseStore:
    if url:
        from qdrant_client import QdrantClient

        from retrieval.store.qdrant import QdrantServerStore

        client = QdrantClient(url=url, api_key=api_key or None, timeout=10)
        return QdrantServerStore(client, collection=collection, dim=dim)
    from retrieval.store.edge import EdgeStore

    return EdgeStore(Path(data_dir) / "qdrant" / collection, dim=dim)
