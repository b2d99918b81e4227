"""Qdrant-side BM25 (our TF part + the engine's IDF modifier) must rank like the reference
implementation, rank_bm25.BM25Okapi, given the same tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.sparse import BM25Params, document_vector, query_vector
from retrieval.store.base import SearchSpec, StorePoint
from retrieval.store.edge import EdgeStore
from retrieval.tokenize import tokenize

CORPUS = [
    "CORS middleware allows cross origin requests from the browser",
    "Background tasks run after the response is sent; use add_task",
    "Dependencies with yield can run cleanup code after the response",
    "Path parameters are declared in the path string with braces",
    "Query parameters that are not path parameters are query parameters",
    "Request body models are declared with pydantic BaseModel classes",
    "Security: OAuth2 with password flow and bearer tokens, JWT tokens",
    "Testing uses TestClient built on httpx; call the app without a server",
    "Settings and environment variables with pydantic settings and model_config",
    "Custom response classes: HTMLResponse, StreamingResponse, FileResponse",
    "WebSockets let the server push messages to the browser",
    "Middleware runs code before and after every request",
    "后台任务在响应发送之后运行",
    "使用 TestClient 测试应用，不需要启动服务器",
]
QUERIES = [
    "cross origin browser requests",
    "run code after the response",
    "path parameters",
    "bearer tokens",
    "test the app without a server",
    "response classes streaming",
    "后台任务",
    "测试 服务器",
    "middleware request",
    "model_config settings",
]


@pytest.fixture
def store(tmp_path: Path) -> EdgeStore:
    tokens = [tokenize(t) for t in CORPUS]
    params = BM25Params(avgdl=sum(map(len, tokens)) / len(tokens))  # the reference uses the true average
    s = EdgeStore(tmp_path / "bm25", dim=2)
    s.upsert(
        [
            StorePoint(
                f"00000000-0000-0000-0000-{i:012d}",
                np.array([1.0, 0.0]),
                document_vector(t, params),
                {"project": "p", "path": str(i), "text": t},
            )
            for i, t in enumerate(CORPUS)
        ]
    )
    return s


def test_engine_bm25_ranks_like_rank_bm25(store: EdgeStore) -> None:
    ref = BM25Okapi([tokenize(t) for t in CORPUS])
    agree_top1 = 0
    overlaps = []
    for q in QUERIES:
        scores = ref.get_scores(tokenize(q))
        ref_rank = [str(i) for i in np.argsort(-scores) if scores[i] > 0][:3]
        hits = store.search(SearchSpec("p", None, query_vector(q), limit=3, mode="sparse"))
        ours = [h.path for h in hits]
        best = {str(i) for i in range(len(CORPUS)) if scores[i] >= scores.max() - 1e-9}  # ties
        agree_top1 += ours[0] in best
        overlaps.append(len(set(ours) & set(ref_rank)) / len(ref_rank))
    assert agree_top1 == len(QUERIES)
    assert sum(overlaps) / len(overlaps) >= 0.9
