from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Ingester
from ingest.sources import iter_folder
from retrieval import HybridRetriever, IndexNotFound
from retrieval.embedders import BaseEmbedder
from tests.conftest import write_corpus
from tests.retrieval.conftest import make_store


def paths(hits: list) -> list[str]:
    return [h.path for h in hits]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_finds_the_page_about_the_question(indexed: HybridRetriever, mode: str) -> None:
    hits = indexed.search("demo", "How do I add a background task with add_task?", top_k=3, mode=mode)  # type: ignore[arg-type]
    assert paths(hits)[0] == "docs/background.md"
    assert hits[0].breadcrumb.startswith("Background Tasks")
    assert hits[0].url.startswith("docs/background.md#")


def test_chinese_question_finds_english_page(indexed: HybridRetriever) -> None:
    hits = indexed.search("demo", "如何配置跨域资源共享中间件，允许其他来源访问？", top_k=2)
    assert "docs/cors.md" in paths(hits)


def test_english_question_finds_chinese_page(indexed: HybridRetriever) -> None:
    hits = indexed.search("demo", "How do I test my app with a test client?", top_k=2)
    assert "docs/zh/testing.md" in paths(hits)


def test_one_hit_per_page_by_default(indexed: HybridRetriever) -> None:
    ps = paths(indexed.search("demo", "CORS middleware origins", top_k=10))
    assert len(ps) == len(set(ps))
    more = paths(indexed.search("demo", "CORS middleware origins", top_k=10, per_path=0))
    assert more.count("docs/cors.md") > 1


def test_source_type_filter(indexed: HybridRetriever) -> None:
    assert indexed.search("demo", "CORS", source_types=("issue",)) == []
    assert indexed.search("demo", "CORS", source_types=("doc",))


def test_unknown_project_raises(indexed: HybridRetriever) -> None:
    with pytest.raises(IndexNotFound):
        indexed.search("nope", "CORS")


@pytest.mark.parametrize("kind", ["edge", "server"])
def test_projects_are_isolated(kind: str, tmp_path: Path, embedder: BaseEmbedder) -> None:
    store = make_store(kind, tmp_path, embedder.dim)
    ingester = Ingester(store=store, embedder=embedder)
    a = write_corpus(tmp_path / "a", {"x.md": "# Alpha\n\nThe alpha secret word is marmalade."})
    b = write_corpus(tmp_path / "b", {"x.md": "# Beta\n\nThe beta secret word is marmalade too."})
    ingester.ingest("alpha", iter_folder(a))
    ingester.ingest("beta", iter_folder(b))
    retriever = HybridRetriever(store=store, embedder=embedder)
    for mode in ("hybrid", "dense", "sparse"):
        hits = retriever.search("alpha", "marmalade secret word", top_k=10, mode=mode, per_path=0)  # type: ignore[arg-type]
        assert hits and all("alpha" in h.text for h in hits)
    assert store.projects() == {"alpha": 1, "beta": 1}

    # Deleting one tenant leaves the other whole, and the deleted one is not listed with 0 chunks.
    store.delete_project("alpha")
    assert store.projects() == {"beta": 1}
    with pytest.raises(IndexNotFound):
        retriever.search("alpha", "marmalade secret word", top_k=10)
    assert paths(retriever.search("beta", "marmalade secret word", top_k=10)) == ["x.md"]


def test_translations_count_as_one_page() -> None:
    from retrieval.hybrid import limit_per_path, translation_key
    from retrieval.types import Hit

    assert translation_key("README_zh.md") == translation_key("README.md")
    assert translation_key("docker/OVERVIEW.zh.md") == translation_key("docker/OVERVIEW.md")
    assert translation_key("docs/zh/docs/cors.md") == translation_key("docs/en/docs/cors.md")
    assert translation_key("docs/zen.md") != translation_key("docs/en.md")

    def hit(path: str) -> Hit:
        return Hit(id=path, score=1.0, path=path, url="", title="", breadcrumb="", text="", source_type="doc")

    kept = limit_per_path([hit("README_zh.md"), hit("README.md"), hit("a.md"), hit("a.md"), hit("b.md")], 1)
    assert [h.path for h in kept] == ["README_zh.md", "a.md", "b.md"]


def test_a_page_is_represented_by_its_most_probable_chunk() -> None:
    """Pages keep their place in the (mpnet) order, but the chunk shown for a page is the one
    with the highest calibrated probability; chunks the reranker did not score come last."""
    from retrieval.hybrid import limit_per_path
    from retrieval.types import Hit

    def hit(id: str, path: str, prob: float | None = None) -> Hit:
        scores = {} if prob is None else {"rerank": prob}
        return Hit(
            id=id,
            score=0.0,
            path=path,
            url="",
            title="",
            breadcrumb="",
            text="",
            source_type="doc",
            scores=scores,
        )

    hits = [
        hit("a1", "a.md", 0.2),
        hit("b1", "b.md", 0.5),
        hit("a2", "a.md", 0.9),
        hit("b2", "b.md"),
        hit("a3", "a.md", 0.4),
    ]
    assert [h.id for h in limit_per_path(hits, 1)] == ["a2", "b1"]
    assert [h.id for h in limit_per_path(hits, 2)] == ["a2", "b1", "a3", "b2"]
    unscored = [hit("a1", "a.md"), hit("b1", "b.md"), hit("a2", "a.md")]
    assert [h.id for h in limit_per_path(unscored, 1)] == ["a1", "b1"]


def test_reranker_scores_only_the_top_n(indexed: HybridRetriever) -> None:
    """The reranker's cost grows with its input: it gets RERANK_TOP_N fused candidates, not
    every candidate fetched to fill top_k after collapsing pages."""
    from dataclasses import replace

    from retrieval.hybrid import RetrievalParams
    from retrieval.rerank.base import BaseReranker
    from retrieval.types import Hit

    class Reverse(BaseReranker):
        seen: list[int] = []

        def rerank(self, query: str, hits: list[Hit], *, project: str) -> list[Hit]:
            self.seen.append(len(hits))
            return [replace(h, scores={**h.scores, "rerank": 0.5}) for h in reversed(hits)]

    reranker = Reverse()
    params = RetrievalParams(rerank_top_n=2)
    store, embedder = indexed.store, indexed.embedder
    retriever = HybridRetriever(store=store, embedder=embedder, reranker=reranker, params=params)
    fused = retriever.search("demo", "CORS middleware", top_k=5, rerank=False, per_path=0)
    hits = retriever.search("demo", "CORS middleware", top_k=5, per_path=0)
    assert reranker.seen == [2] and len(fused) > 2
    assert [h.id for h in hits[:2]] == [fused[1].id, fused[0].id]
    assert [h.id for h in hits[2:]] == [h.id for h in fused[2:]]


def test_fused_order_does_not_depend_on_the_engines_tie_order(indexed: HybridRetriever) -> None:
    """RRF ties (same rank in different channels) come back from the engine in an order that
    changes between processes; the retriever breaks them by id, so every run ranks alike."""
    from retrieval.store.base import SearchSpec

    real = indexed.store

    class EngineOrderReversed:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def search(self, spec: SearchSpec) -> list:
            return list(reversed(real.search(spec)))

    flipped = HybridRetriever(store=EngineOrderReversed(), embedder=indexed.embedder)  # type: ignore[arg-type]
    for query in ("CORS middleware origins", "How do I add a background task?", "如何测试应用？"):
        hits = indexed.search("demo", query, top_k=8, per_path=0, rerank=False)
        assert [h.id for h in flipped.search("demo", query, top_k=8, per_path=0, rerank=False)] == [
            h.id for h in hits
        ]
        assert all((a.score, b.id) >= (b.score, a.id) for a, b in zip(hits, hits[1:], strict=False))
