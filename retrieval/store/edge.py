"""Embedded Qdrant (qdrant-edge-py): Qdrant's Rust engine inside this process.

One shard directory is the whole collection. The engine locks it to one process; a second
opener gets `StoreLocked` instead of a raw WAL error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from retrieval.errors import BackendUnavailable, StoreLocked
from retrieval.store.base import DENSE, SPARSE, BaseStore, SearchSpec, StorePoint
from retrieval.types import Hit

_PAGE = 1000


def _match(key: str, value: str) -> qe.FieldCondition:
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


class EdgeStore(BaseStore):
    def __init__(self, path: Path, *, dim: int) -> None:
        self.path = Path(path)
        self.dim = dim
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        try:
            if (self.path / "edge_config.json").exists() or any(self.path.glob("segments*")):
                self._shard = qe.EdgeShard.load(str(self.path), config)
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._shard = qe.EdgeShard.create(str(self.path), config)
                for field in ("project", "path", "source_type"):
                    schema = (
                        qe.KeywordIndexParams(is_tenant=True)
                        if field == "project"
                        else qe.PayloadSchemaType.Keyword
                    )
                    self._shard.update(qe.UpdateOperation.create_field_index(field, schema))
        except Exception as exc:  # the engine raises plain exceptions; map the lock case
            if "WouldBlock" in str(exc) or "already" in str(exc).lower():
                raise StoreLocked(str(self.path)) from exc
            raise BackendUnavailable(f"cannot open embedded Qdrant at {self.path}: {exc}") from exc
        self._write_lock = threading.Lock()

    # -- writes -------------------------------------------------------------------------
    def upsert(self, points: list[StorePoint]) -> None:
        if not points:
            return
        edge_points = [
            qe.Point(
                id=p.id,
                vector={
                    DENSE: p.dense.tolist(),
                    SPARSE: qe.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
                },
                payload=p.payload,
            )
            for p in points
        ]
        with self._write_lock:
            self._shard.update(qe.UpdateOperation.upsert_points(edge_points))

    def delete_path(self, project: str, path: str, *, except_doc_hash: str | None = None) -> None:
        must_not = [_match("doc_hash", except_doc_hash)] if except_doc_hash else None
        self._delete(qe.Filter(must=[_match("project", project), _match("path", path)], must_not=must_not))

    def delete_project(self, project: str) -> None:
        self._delete(qe.Filter(must=[_match("project", project)]))

    def _delete(self, flt: qe.Filter) -> None:
        with self._write_lock:
            self._shard.update(qe.UpdateOperation.delete_points_by_filter(flt))

    def flush(self) -> None:
        self._shard.flush()

    def close(self) -> None:
        self._shard.close()

    def optimize(self) -> None:
        with self._write_lock:
            self._shard.optimize()

    # -- reads --------------------------------------------------------------------------
    def _scroll(self, flt: qe.Filter, fields: list[str] | bool) -> Iterator[dict[str, Any]]:
        offset = None
        with_payload: Any = qe.PayloadSelector.Include(fields) if isinstance(fields, list) else fields
        while True:
            records, offset = self._shard.scroll(
                qe.ScrollRequest(
                    offset=offset, limit=_PAGE, filter=flt, with_payload=with_payload, with_vector=False
                )
            )
            for rec in records:
                yield dict(rec.payload or {})
            if offset is None:
                return

    def doc_hashes(self, project: str, source_types: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        must: list[Any] = [_match("project", project)]
        if source_types:
            must.append(qe.FieldCondition(key="source_type", match=qe.MatchAny(list(source_types))))
        for payload in self._scroll(qe.Filter(must=must), ["path", "doc_hash"]):
            hashes = out.setdefault(payload["path"], {})
            hashes[payload["doc_hash"]] = hashes.get(payload["doc_hash"], 0) + 1
        return out

    def payloads(self, project: str) -> Iterator[dict[str, Any]]:
        yield from self._scroll(qe.Filter(must=[_match("project", project)]), True)

    def count(self, project: str | None = None) -> int:
        flt = qe.Filter(must=[_match("project", project)]) if project else None
        return self._shard.count(qe.CountRequest(exact=True, filter=flt))

    def projects(self) -> dict[str, int]:
        # The engine keeps a value whose points were all deleted in its index, with count 0.
        resp = self._shard.facet(qe.FacetRequest(key="project", limit=10_000, exact=True))
        return {str(h.value): int(h.count) for h in resp.hits if h.count}

    def search(self, spec: SearchSpec) -> list[Hit]:
        must: list[Any] = [_match("project", spec.project)]
        if spec.source_types:
            must.append(qe.FieldCondition(key="source_type", match=qe.MatchAny(list(spec.source_types))))
        flt = qe.Filter(must=must)
        # IDF over this project's chunks only, so one tenant's vocabulary does not skew another's.
        params = qe.SearchParams(idf=qe.IdfParams(corpus=qe.Filter(must=[_match("project", spec.project)])))
        dense_q = sparse_q = None
        if spec.dense is not None:
            dense_q = qe.Query.Nearest(spec.dense.tolist(), using=DENSE)
        if spec.sparse is not None and spec.sparse.indices:
            sparse_q = qe.Query.Nearest(
                qe.SparseVector(indices=spec.sparse.indices, values=spec.sparse.values), using=SPARSE
            )
        if spec.mode == "dense" or (spec.mode == "hybrid" and sparse_q is None):
            req = qe.QueryRequest(limit=spec.limit, query=dense_q, filter=flt, with_payload=True)
        elif spec.mode == "sparse":
            if sparse_q is None:
                return []
            req = qe.QueryRequest(
                limit=spec.limit, query=sparse_q, filter=flt, with_payload=True, params=params
            )
        else:
            fusion: Any = qe.Fusion.Dbsf()
            if spec.fusion == "rrf":
                fusion = qe.Fusion.Rrf(k=spec.rrf_k, weights=list(spec.weights))
            req = qe.QueryRequest(
                limit=spec.limit,
                prefetches=[
                    qe.Prefetch(limit=spec.prefetch_limit, query=dense_q, filter=flt),
                    qe.Prefetch(limit=spec.prefetch_limit, query=sparse_q, filter=flt, params=params),
                ],
                query=fusion,
                filter=flt,
                with_payload=True,
            )
        return [Hit.from_payload(str(p.id), p.score, dict(p.payload or {})) for p in self._shard.query(req)]
