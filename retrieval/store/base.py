"""The vector store interface. Everything above it is shared by the embedded engine
(qdrant-edge, default) and a Qdrant server (qdrant-client)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from retrieval.sparse import SparseVec
from retrieval.types import Hit

DENSE = "dense"
SPARSE = "bm25"
SearchMode = Literal["hybrid", "dense", "sparse"]
FusionName = Literal["rrf", "dbsf"]


@dataclass(frozen=True)
class StorePoint:
    id: str
    dense: np.ndarray
    sparse: SparseVec
    payload: dict[str, Any]


@dataclass(frozen=True)
class SearchSpec:
    """One retrieval request as the store sees it."""

    project: str
    dense: np.ndarray | None
    sparse: SparseVec | None
    limit: int = 10
    prefetch_limit: int = 50
    mode: SearchMode = "hybrid"
    fusion: FusionName = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)  # (dense, sparse) for RRF
    source_types: tuple[str, ...] = ()


class BaseStore(ABC):
    """Chunks of every project in one collection; `project` is a tenant payload index."""

    # Bumped once per finished ingest job or deletion in this process (service/container.py),
    # not per write, so a long ingest does not make every query rebuild its caches. Caches built
    # from a project's chunks (term statistics) compare it as well as the chunk count: an edited
    # file often keeps the count.
    generation: int = 0

    def changed(self) -> None:
        self.generation += 1

    @abstractmethod
    def upsert(self, points: list[StorePoint]) -> None: ...

    @abstractmethod
    def delete_path(self, project: str, path: str, *, except_doc_hash: str | None = None) -> None:
        """Delete a document's chunks (all, or all but one version)."""

    @abstractmethod
    def delete_project(self, project: str) -> None:
        """Delete every chunk of a project."""

    @abstractmethod
    def doc_hashes(self, project: str, source_types: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
        """path -> {doc hash: chunk count} (more than one hash after an interrupted update)."""

    @abstractmethod
    def count(self, project: str | None = None) -> int: ...

    @abstractmethod
    def projects(self) -> dict[str, int]:
        """project -> number of chunks."""

    @abstractmethod
    def search(self, spec: SearchSpec) -> list[Hit]: ...

    @abstractmethod
    def payloads(self, project: str) -> Iterator[dict[str, Any]]:
        """Every chunk payload of a project (for training and export)."""

    @abstractmethod
    def flush(self) -> None: ...

    def optimize(self) -> None:  # noqa: B027 - optional hook; a server builds its indexes itself
        """Build search indexes after a large write (HNSW in the embedded engine)."""

    @abstractmethod
    def close(self) -> None: ...
