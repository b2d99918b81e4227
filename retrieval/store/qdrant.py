"""A Qdrant server through qdrant-client (QDRANT_URL). Tests drive the same code with
`QdrantClient(":memory:")`, which speaks the same calls and models as a server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from retrieval.errors import BackendUnavailable
from retrieval.store.base import DENSE, SPARSE, BaseStore, SearchSpec, StorePoint
from retrieval.types import Hit

_PAGE = 1000


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


class QdrantServerStore(BaseStore):
    def __init__(self, client: QdrantClient, *, collection: str, dim: int) -> None:
        self.client = client
        self.collection = collection
        try:
            if not client.collection_exists(collection):
                client.create_collection(
                    collection,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                )
                client.create_payload_index(
                    collection,
                    "project",
                    models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
                )
                for field in ("path", "source_type"):
                    client.create_payload_index(collection, field, models.PayloadSchemaType.KEYWORD)
        except (ResponseHandlingException, UnexpectedResponse, ConnectionError) as exc:
            raise BackendUnavailable(f"Qdrant is unavailable: {exc}") from exc

    def upsert(self, points: list[StorePoint]) -> None:
        if not points:
            return
        self.client.upsert(
            self.collection,
            points=[
                models.PointStruct(
                    id=p.id,
                    vector={
                        DENSE: p.dense.tolist(),
                        SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
                    },
                    payload=p.payload,
                )
                for p in points
            ],
        )

    def delete_path(self, project: str, path: str, *, except_doc_hash: str | None = None) -> None:
        must_not: list[models.Condition] | None = (
            [_match("doc_hash", except_doc_hash)] if except_doc_hash else None
        )
        must = [_match("project", project), _match("path", path)]
        self._delete(models.Filter(must=must, must_not=must_not))

    def delete_project(self, project: str) -> None:
        self._delete(models.Filter(must=[_match("project", project)]))

    def _delete(self, flt: models.Filter) -> None:
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=flt))

    def flush(self) -> None:
        """Writes are durable when the server acknowledges them."""

    def close(self) -> None:
        self.client.close()

    def _scroll(self, flt: models.Filter, fields: list[str] | bool) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=_PAGE,
                offset=offset,
                with_payload=fields,
                with_vectors=False,
            )
            for rec in records:
                yield dict(rec.payload or {})
            if offset is None:
                return

    def doc_hashes(self, project: str, source_types: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        must: list[models.Condition] = [_match("project", project)]
        if source_types:
            must.append(
                models.FieldCondition(key="source_type", match=models.MatchAny(any=list(source_types)))
            )
        for payload in self._scroll(models.Filter(must=must), ["path", "doc_hash"]):
            hashes = out.setdefault(payload["path"], {})
            hashes[payload["doc_hash"]] = hashes.get(payload["doc_hash"], 0) + 1
        return out

    def payloads(self, project: str) -> Iterator[dict[str, Any]]:
        yield from self._scroll(models.Filter(must=[_match("project", project)]), True)

    def count(self, project: str | None = None) -> int:
        flt = models.Filter(must=[_match("project", project)]) if project else None
        return self.client.count(self.collection, count_filter=flt, exact=True).count

    def projects(self) -> dict[str, int]:
        resp = self.client.facet(self.collection, key="project", limit=10_000, exact=True)
        return {str(h.value): int(h.count) for h in resp.hits if h.count}

    def search(self, spec: SearchSpec) -> list[Hit]:
        must: list[models.Condition] = [_match("project", spec.project)]
        if spec.source_types:
            must.append(
                models.FieldCondition(key="source_type", match=models.MatchAny(any=list(spec.source_types)))
            )
        flt = models.Filter(must=must)
        dense_q = spec.dense.tolist() if spec.dense is not None else None
        sparse_q = (
            models.SparseVector(indices=spec.sparse.indices, values=spec.sparse.values)
            if spec.sparse is not None and spec.sparse.indices
            else None
        )
        common: dict[str, Any] = {"query_filter": flt, "limit": spec.limit, "with_payload": True}
        try:
            if spec.mode == "dense" or (spec.mode == "hybrid" and sparse_q is None):
                res = self.client.query_points(self.collection, query=dense_q, using=DENSE, **common)
            elif spec.mode == "sparse":
                if sparse_q is None:
                    return []
                res = self.client.query_points(self.collection, query=sparse_q, using=SPARSE, **common)
            else:
                fusion = models.Fusion.RRF if spec.fusion == "rrf" else models.Fusion.DBSF
                res = self.client.query_points(
                    self.collection,
                    prefetch=[
                        models.Prefetch(query=dense_q, using=DENSE, limit=spec.prefetch_limit, filter=flt),
                        models.Prefetch(query=sparse_q, using=SPARSE, limit=spec.prefetch_limit, filter=flt),
                    ],
                    query=models.FusionQuery(fusion=fusion),
                    **common,
                )
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise BackendUnavailable(f"Qdrant query failed: {exc}") from exc
        return [Hit.from_payload(str(p.id), p.score, dict(p.payload or {})) for p in res.points]
