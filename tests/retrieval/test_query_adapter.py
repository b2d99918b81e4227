"""The per-project query adapter: the fit learns a distortion, the file is loaded, reloaded and
ignored when absent, the retriever uses it only when asked, and training installs it only when
it helps on held-out queries."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from retrieval import HybridRetriever
from retrieval.adapter import QueryAdapters, adapter_path, apply_adapter, fit_query_adapter, ranking_quality
from retrieval.embedders import BaseEmbedder
from retrieval.rerank.training.adapter import train_query_adapter
from retrieval.rerank.training.pairs import Query, split_of
from retrieval.rerank.training.passages import Passage


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_fit_learns_a_systematic_distortion() -> None:
    """Queries are their document seen through a fixed mixing of dimensions, plus noise: the
    adapter learns to undo the mixing and ranks unseen queries' documents better."""
    rng = np.random.default_rng(0)
    docs = _unit(rng.normal(size=(200, 32)))
    mix = np.eye(32) + rng.normal(scale=0.6, size=(32, 32))

    def queries(idx: np.ndarray) -> np.ndarray:
        return _unit(docs[idx] @ mix + rng.normal(scale=0.1, size=(len(idx), 32)))

    train_y, test_y = rng.integers(0, 200, 2000), rng.integers(0, 200, 300)
    w = fit_query_adapter(queries(train_y), train_y, docs)
    test_q = queries(test_y)
    before = ranking_quality(test_q, test_y, docs)
    after = ranking_quality(np.vstack([apply_adapter(w, q) for q in test_q]), test_y, docs)
    assert after["mrr@10"] > before["mrr@10"] + 0.1, (before, after)


def test_adapters_load_reload_and_pass_through(tmp_path: Path) -> None:
    adapters = QueryAdapters(tmp_path)
    v = _unit(np.arange(1, 5, dtype=np.float32))
    assert np.array_equal(adapters.adapt("demo", v), v)  # nothing trained: unchanged
    assert not adapters.has("demo")
    path = adapter_path(tmp_path, "demo")
    path.parent.mkdir(parents=True)
    swap = np.zeros((4, 4), dtype=np.float32)
    swap[0, 0], swap[0, 1] = -1.0, 1.0  # moves the first coordinate onto the second
    np.save(path, swap)
    assert adapters.has("demo")
    assert np.allclose(adapters.adapt("demo", v), _unit(v + v @ swap))
    np.save(path, np.zeros((4, 4), dtype=np.float32))  # retrained while serving
    os.utime(path, (1, 1))  # a different mtime even on a coarse-clock filesystem
    assert np.allclose(adapters.adapt("demo", v), v)
    assert np.array_equal(adapters.adapt("demo", np.ones(3, dtype=np.float32)), np.ones(3))  # other dim


def test_retriever_uses_the_adapter_only_when_asked(indexed: HybridRetriever, tmp_path: Path) -> None:
    """A rank-1 adapter that maps this query's vector onto the CORS page's: dense search then
    finds CORS for a background-task question, and adapt=False finds background tasks."""
    query = "How do I add a background task with add_task?"
    cors = indexed.search("demo", "CORS middleware allow origins", top_k=1, mode="dense", adapt=False)[0]
    q = indexed.embedder.embed_query(query)
    target = indexed.embedder.embed_documents([f"{cors.breadcrumb}\n{cors.text}"])[0]
    path = adapter_path(tmp_path / "adapters", "demo")
    path.parent.mkdir(parents=True)
    np.save(path, np.outer(q, target - q) / float(q @ q))
    indexed.adapters = QueryAdapters(tmp_path / "adapters")
    assert indexed.search("demo", query, top_k=1, mode="dense")[0].path == "docs/cors.md"
    assert indexed.search("demo", query, top_k=1, mode="dense", adapt=False)[0].path == "docs/background.md"
    # Another project has no adapter: its queries are untouched.
    assert not indexed.adapters.has("other")


def _paths_by_split(n: int) -> tuple[list[str], list[str]]:
    names = [f"docs/topic{i}.md" for i in range(400)]
    return [p for p in names if split_of(p) == "train"][:n], [p for p in names if split_of(p) == "test"][:n]


TOPICS = [
    ("CORS", "Enable CORS with CORSMiddleware and a list of allowed origins."),
    ("Background tasks", "Run work after the response with BackgroundTasks.add_task."),
    ("File uploads", "Receive uploaded files with UploadFile and File parameters."),
    ("Testing", "Call the app in tests with TestClient and assert on the response."),
    ("OAuth2", "Protect routes with OAuth2PasswordBearer and a token URL."),
    ("Settings", "Read configuration from the environment with BaseSettings."),
]


def _passage(path: str, i: int) -> Passage:
    title, text = TOPICS[i % len(TOPICS)]
    return Passage(f"k{path}", path, title, title, f"{text} ({path})", "doc", "en", 0)


@pytest.mark.parametrize("helps", [True, False])
def test_training_installs_only_what_helps_heldout_queries(
    tmp_path: Path, embedder: BaseEmbedder, helps: bool
) -> None:
    train_paths, test_paths = _paths_by_split(6)
    passages = [_passage(p, i) for i, p in enumerate(train_paths + test_paths)]
    out = tmp_path / "query_adapter.npy"
    out.write_bytes(b"an older adapter")
    if helps:
        # Each passage asked about with its topic's words: learnable, and it carries over.
        queries = [Query(f"how to {p.title.lower()}", "en", "heading", p) for p in passages for _ in range(2)]
    else:
        # Queries only about files of the train split: nothing to check the adapter on.
        queries = [Query(p.title, "en", "heading", p) for p in passages if p.path in train_paths]
    info = train_query_adapter(queries, passages, embedder, out)
    assert out.exists() == info["installed"]
    if info["installed"]:
        assert info["heldout_after"]["mrr@10"] > info["heldout_before"]["mrr@10"]
        assert np.load(out).shape == (embedder.dim, embedder.dim)
    if not helps:
        assert info == {"installed": False, "reason": "too few queries"}
