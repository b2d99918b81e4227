"""Pair building for the reranker: queries tied to their passages, hard negatives that are
really negative, held-out splits disjoint from training, nothing read from eval sets."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.pipeline import Ingester
from ingest.sources import iter_folder
from retrieval import HybridRetriever
from retrieval.embedders import BaseEmbedder
from retrieval.rerank.training.generate import clean_question, generate_questions
from retrieval.rerank.training.pairs import (
    Query,
    discussion_queries,
    retrieve,
    round_trip,
    split_of,
    training_groups,
)
from retrieval.rerank.training.passages import Passage, load_passages, pair_text
from retrieval.rerank.training.queries import heading_queries, sentence_queries
from retrieval.rerank.training.run import RerankerTrainConfig, answerable_queries, refusal_queries
from retrieval.store.edge import EdgeStore
from tests.conftest import TINY_DOCS, write_corpus

DOCS = {
    **TINY_DOCS,
    # The same section in a second file (docs often repeat themselves): it answers the CORS
    # question too, so it must never become a negative for it.
    "docs/cors_again.md": TINY_DOCS["docs/cors.md"],
    "docs/pagination.md": "# Pagination\n\nReturn pages with `limit` and `offset` query parameters.\n",
    "docs/apples.md": "# Apples\n\n## Example\n\nAn example that sorts apples by weight and colour.\n",
    "docs/pears.md": "# Pears\n\n## Example\n\nAn example that groups pears by their ripeness.\n",
}


@pytest.fixture
def retriever(tmp_path: Path, embedder: BaseEmbedder) -> Iterator[HybridRetriever]:
    corpus = write_corpus(tmp_path / "corpus", DOCS)
    store = EdgeStore(tmp_path / "edge", dim=embedder.dim)
    Ingester(store=store, embedder=embedder).ingest("demo", iter_folder(corpus))
    yield HybridRetriever(store=store, embedder=embedder)
    store.close()


def _search(retriever: HybridRetriever):  # noqa: ANN202
    return lambda q: retriever.search("demo", q, top_k=10, rerank=False)


def test_heading_queries_point_at_their_section(retriever: HybridRetriever) -> None:
    passages = load_passages(retriever.store, "demo")
    queries = heading_queries(passages)
    by_key = {p.key: p for p in passages}
    assert queries
    for q in queries:
        assert by_key[q.key].heading.lower() in q.question.lower()
    # "Example" heads sections in two files: it points at neither, so it is skipped.
    assert not any("example" in q.question.lower() for q in queries)
    assert any("pagination" in q.question.lower() for q in queries)
    assert {q.lang for q in queries} == {"en", "zh"}


def test_hard_negatives_are_really_negative(retriever: HybridRetriever) -> None:
    passages = load_passages(retriever.store, "demo")
    cors = next(p for p in passages if p.path == "docs/cors.md" and "add_middleware" in p.text)
    q = Query("How do I allow requests from another origin?", "en", "generated", cors)
    (c,) = retrieve([q], _search(retriever))
    assert round_trip(c)
    for hit, label in zip(c.hits, c.labels, strict=True):
        if label == 0:
            assert hit.path != cors.path and hit.text != cors.text
        if hit.path == "docs/cors_again.md":
            assert label != 0  # the copy answers the question as well
    # Force the query into the training split and check the pairs it yields.
    train_q = Query(q.text, q.lang, q.kind, Passage(**{**cors.__dict__, "path": _train_path()}))
    (tc,) = retrieve([train_q], _search(retriever))
    pairs = _flatten(training_groups([tc], passages, seed=1))
    positives = [p for p in pairs if p[2] == 1.0]
    negatives = [p for p in pairs if p[2] == 0.0]
    assert len(positives) == 1 and "add_middleware" in positives[0][1]
    assert negatives and all("add_middleware" not in p[1] for p in negatives)


def _flatten(groups: list) -> list[tuple[str, str, float]]:
    return [(q, t, label) for q, texts, labels in groups for t, label in zip(texts, labels, strict=True)]


def _train_path() -> str:
    return next(f"docs/x{i}.md" for i in range(1000) if split_of(f"docs/x{i}.md") == "train")


def test_heldout_splits_share_no_file_with_training(retriever: HybridRetriever) -> None:
    passages = load_passages(retriever.store, "demo")
    queries, _ = answerable_queries(
        passages, RerankerTrainConfig(generate=0), complete=None, cache_file=None, log=lambda m: None
    )
    files = {
        s: {q.source.path for q in queries if q.split == s and q.source} for s in ("train", "calib", "test")
    }
    assert not files["train"] & files["calib"] and not files["train"] & files["test"]
    assert all(q.split == split_of(q.source.path) for q in queries if q.source)


def test_pair_building_reads_no_eval_files(
    retriever: HybridRetriever, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    passages = load_passages(retriever.store, "demo")
    config = RerankerTrainConfig(generate=0)
    queries, _ = answerable_queries(passages, config, complete=None, cache_file=None, log=lambda m: None)
    refusal = refusal_queries(retriever.store, "demo", tmp_path, config)
    cands = retrieve(queries + refusal, _search(retriever))
    pairs = _flatten(training_groups(cands, passages))
    assert pairs
    assert not [p for p in opened if "eval" in Path(p).parts]
    # Refusal queries are bundled off-topic ones, never tied to a passage.
    assert refusal and all(q.source is None for q in refusal)


def test_discussion_question_is_paired_with_its_replies() -> None:
    def chunk(i: int, text: str) -> Passage:
        return Passage(f"k{i}", "discussions/12", "Upload fails", "", text, "discussion", "en", i)

    opening, reply = (
        chunk(0, "Uploading a 2 GB file fails with 413."),
        chunk(1, "Raise client_max_body_size."),
    )
    (q,) = discussion_queries([opening, reply])
    assert q.source == reply and q.text.startswith("Upload fails")


def test_generated_questions_are_cleaned_and_cached(tmp_path: Path) -> None:
    assert clean_question("Question: How do I add a task?", "en") == "How do I add a task?"
    assert clean_question("如何添加后台任务？", "en") is None  # wrong language
    assert clean_question("How do I add a task?", "zh") is None
    passages = [
        Passage(f"k{i}", f"docs/{i}.md", "T", "T > S", "A long passage about things. " * 10, "doc", "en", 0)
        for i in range(4)
    ]
    calls: list[str] = []

    def complete(prompt: str) -> str:
        calls.append(prompt)
        return "如何配置这个功能？" if "中文" in prompt else "How do I configure this feature?"

    cache = tmp_path / "generated.jsonl"
    first = generate_questions(passages, complete, count=4, cache_file=cache, workers=1)
    assert [g.lang for g in first] == ["en", "zh", "en", "zh"] and len(calls) == 4
    again = generate_questions(passages, complete, count=4, cache_file=cache, workers=1)
    assert [g.question for g in again] == [g.question for g in first] and len(calls) == 4
    assert pair_text("A > B", "A", "body") == "A > B\nbody"


def test_sentence_queries_take_prose_not_code_or_tables() -> None:
    text = (
        "Add the middleware before any route is declared, otherwise the preflight request fails.\n"
        "```python\napp.add_middleware(CORSMiddleware, allow_origins=['*'], allow_methods=['*'])\n```\n"
        "| option | default | meaning of the option in the table |\n"
        "Short line."
    )
    p = Passage("k1", "docs/cors.md", "CORS", "CORS", text, "doc", "en", 0)
    (q,) = sentence_queries([p])
    assert q.question.startswith("Add the middleware") and q.kind == "sentence" and q.lang == "en"
    code_only = Passage("k2", "docs/x.md", "X", "X", "```python\nx = 1\n```", "doc", "en", 0)
    assert sentence_queries([code_only]) == []


def test_training_groups_put_the_source_first(retriever: HybridRetriever) -> None:
    passages = load_passages(retriever.store, "demo")
    cors = next(p for p in passages if p.path == "docs/cors.md" and "add_middleware" in p.text)
    source = Passage(**{**cors.__dict__, "path": _train_path()})
    sentence = next(s for s in cors.text.split("\n") if len(s.split()) >= 4)
    queries = [
        Query("How do I allow requests from another origin?", "en", "generated", source),
        Query(sentence, "en", "sentence", source),
        Query("How do I bake bread?", "en", "offtopic", None),
    ]
    groups = training_groups(retrieve(queries, _search(retriever)), passages, seed=3)
    by_query = {g[0]: g for g in groups}
    for q in queries[:2]:
        _, texts, labels = by_query[q.text]
        assert labels[0] == 1.0 and sum(labels) == 1.0 and len(texts) > 1
        assert all("add_middleware" not in t for t in texts[1:])  # negatives come from other files
    masked = [
        sentence not in training_groups(retrieve(queries[1:2], _search(retriever)), passages, seed=s)[0][1][0]
        for s in range(12)
    ]
    assert any(masked) and not all(masked)  # the sentence is cut from its passage half of the time
    if queries[2].split == "train":
        assert set(by_query[queries[2].text][2]) == {0.0}


def test_the_training_loop_gets_what_the_total_budget_leaves() -> None:
    from retrieval.rerank.training.run import CALIBRATION_RESERVE_S, MIN_TRAIN_S, training_budget
    from retrieval.rerank.training.train import TrainConfig

    config = RerankerTrainConfig(total_max_seconds=1800, train=TrainConfig(max_seconds=840))
    assert training_budget(config, 0) == 840  # a small corpus: the loop's own cap
    assert training_budget(config, 1200) == 1800 - 1200 - CALIBRATION_RESERVE_S  # mpnet took long
    assert training_budget(config, 1790) == MIN_TRAIN_S  # never starved
