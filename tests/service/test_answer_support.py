"""Conversation history, follow-up condensing and the refusal confidence choice."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from service.confidence import FALLBACK_THRESHOLD, Features, blend, lexical_features
from service.conversations import Turn, condense_query, is_follow_up, open_conversations


def test_sqlite_history_round_trip(tmp_path: Path) -> None:
    conv = open_conversations(data_dir=tmp_path, database_url="")
    conv.append("c1", "user", "How do I enable CORS?", standalone="How do I enable CORS?")
    conv.append("c1", "assistant", "Add CORSMiddleware [1].")
    conv.append("c2", "user", "other")
    conv.close()
    reopened = open_conversations(data_dir=tmp_path, database_url="")  # survives a restart
    assert reopened.history("c1") == [
        Turn("user", "How do I enable CORS?", "How do I enable CORS?"),
        Turn("assistant", "Add CORSMiddleware [1].", ""),
    ]
    assert reopened.history("missing") == []
    assert (tmp_path / "conversations.sqlite3").is_file()


def test_database_url_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        open_conversations(data_dir=tmp_path, database_url="mysql://x")


def test_follow_up_is_condensed_with_previous_question() -> None:
    history = [Turn("user", "How do I enable CORS in FastAPI?", "How do I enable CORS in FastAPI?")]
    assert is_follow_up("and how do I test it?")
    query = condense_query("and how do I test it?", history)
    assert "CORS" in query and "test" in query
    standalone = "How do I declare a response model with a list of items for a path operation?"
    assert condense_query(standalone, history) == standalone
    assert condense_query("and how do I test it?", []) == "and how do I test it?"
    assert "CORS" in condense_query("那怎么测试它？", history)


def test_lexical_features_flag_unknown_project_names() -> None:
    df = Counter({"valid": 50, "field": 40, "model": 60})
    cover, oov, plain, _ = lexical_features(
        "How do I define a Peewee model field?", ["a model field"], df, 100, False
    )
    assert oov > 0.3 and 0 < cover < 1  # "Peewee" is a name nowhere in this project
    cover, oov, plain, _ = lexical_features(
        "How do I validate a model field?", ["validate a field"], df, 100, False
    )
    assert oov == 0 and plain == 0 and 0 < cover < 1


def test_user_identifiers_and_plain_words_are_not_project_names() -> None:
    df = Counter({"field": 40, "model": 60})
    _, oov, plain, _ = lexical_features(
        "My `current_account` field swaps models", ["field model"], df, 100, False
    )
    assert oov == 0.0  # a user's own identifier says nothing
    assert plain > 0.0  # "swap" is a plain word missing from the corpus: weak evidence


def test_file_formats_and_protocols_missing_from_the_docs_are_not_judged() -> None:
    df = Counter({"stream": 5, "larg": 9, "file": 30, "respons": 40})
    docs = ["StreamingResponse streams a large file"]
    plain = lexical_features("How do I stream a large file as a response?", docs, df, 100, False)
    csv = lexical_features("How do I stream a large CSV file as a response?", docs, df, 100, False)
    assert csv == plain and plain[1] == 0.0
    # Where the docs do use it, it is judged like any term: here it is not in the passages.
    with_csv = lexical_features(
        "How do I stream a large CSV file as a response?", docs, df + Counter({"csv": 2}), 100, False
    )
    assert with_csv[0] < plain[0]
    # A real name of another tool still reads as one.
    assert lexical_features("How do I stream a large Parquet file?", docs, df, 100, False)[1] > 0


def test_words_written_apart_match_the_compound_the_docs_use() -> None:
    df = Counter({"startup": 5, "shutdown": 4, "start": 30, "run": 40, "code": 50, "app": 60, "set": 20})
    df.update({"setup": 9, "cor": 6, "json": 30, "schema": 30, "jsonschema": 2})
    lifespan = ["Lifespan: run code at app startup and shutdown"]
    cover, _, plain, _ = lexical_features(
        "How can I run code when the app starts up and shuts down?", lifespan, df, 100, False
    )
    assert cover == 1.0 and plain == 0.0  # not "start" and an unknown "shut"
    # The parts still count when the passage writes them apart.
    assert lexical_features("How do I set up CORS?", ["Set CORS origins"], df, 100, False)[0] == 1.0
    # Two known words stay two words, whatever identifier joins them.
    assert lexical_features("json schema", ["JSON Schema"], df, 100, False)[0] == 1.0


def test_chinese_terms_ignored_for_english_corpus() -> None:
    df = Counter({"field": 40})
    assert lexical_features("如何使用字段？", ["field"], df, 100, corpus_has_zh=False) == (
        0.5,
        0.0,
        0.0,
        False,
    )
    # Chinese words absent from a Chinese corpus are no evidence either: still nothing judged.
    assert not lexical_features("怎么做红烧肉？", ["字段"], Counter({"字段": 3}), 100, corpus_has_zh=True)[3]
    zh_df = Counter({"中间件": 3})
    assert lexical_features("如何配置中间件？", ["中间件"], zh_df, 100, corpus_has_zh=True)[3]


def test_questions_without_judged_terms_rest_on_similarity() -> None:
    """A neutral `cover` used to lift every unjudgeable question over the threshold: now a
    dissimilar one (an off-topic Chinese question about English docs) is refused and a
    similar one is answered."""
    off = Features(cos=0.15, cover=0.5, oov=0.0, lexical=False)
    on = Features(cos=0.45, cover=0.5, oov=0.0, lexical=False)
    assert blend(off) < FALLBACK_THRESHOLD <= blend(on)
    assert blend(replace(off, lexical=True)) > FALLBACK_THRESHOLD  # what the neutral cover did


def test_blend_is_monotonic() -> None:
    low = blend(Features(cos=0.1, cover=0.1, oov=0.5))
    high = blend(Features(cos=0.6, cover=0.9, oov=0.0))
    assert 0 <= low < high <= 1


class _Calibrated:
    """A reranker as the confidence scorer sees it: only its fitted threshold."""

    def __init__(self, value: float) -> None:
        self.value = value

    def threshold(self, project: str) -> float:
        return self.value


def _indexed_demo(tmp_path: Path, embedder):  # noqa: ANN001, ANN202
    """The fixture corpus in a real embedded store, as project `demo`."""
    from ingest.pipeline import Ingester
    from ingest.sources import iter_folder
    from retrieval.store.edge import EdgeStore
    from tests.conftest import write_corpus

    store = EdgeStore(tmp_path / "edge", dim=embedder.dim)
    Ingester(store=store, embedder=embedder).ingest("demo", iter_folder(write_corpus(tmp_path / "c")))
    return store


def test_refusal_signal_chooses_between_reranker_and_fallback(tmp_path: Path, embedder) -> None:  # noqa: ANN001
    """REFUSAL_SIGNAL=rerank uses the reranker's probability and its calibrated threshold
    (REFUSAL_THRESHOLD overrides); the default ignores them for the fallback blend."""
    from retrieval import HybridRetriever
    from service.confidence import ConfidenceScorer

    store = _indexed_demo(tmp_path, embedder)
    question = "How do I add CORSMiddleware to allow another origin?"
    hits = HybridRetriever(store=store, embedder=embedder).search("demo", question, top_k=3, rerank=False)
    hits = [replace(hits[0], scores={**hits[0].scores, "rerank": 0.5}), *hits[1:]]
    try:
        by_rerank = ConfidenceScorer(
            embedder=embedder, store=store, reranker=_Calibrated(0.7), signal="rerank"
        )
        c = by_rerank.score("demo", question, hits)
        assert (c.source, c.value, c.threshold, c.confident) == ("rerank", 0.5, 0.7, False)
        described = by_rerank.describe("demo")
        assert (described["signal"], described["threshold"]) == ("rerank", 0.7)
        overridden = ConfidenceScorer(
            embedder=embedder, store=store, reranker=_Calibrated(0.7), signal="rerank", threshold=0.4
        )
        assert overridden.score("demo", question, hits).confident
        default = ConfidenceScorer(embedder=embedder, store=store, reranker=_Calibrated(0.7))
        fb = default.score("demo", question, hits)
        assert fb.source == "fallback" and fb.features is not None and fb.confident  # on-topic question
        assert not default.score("demo", "How do I set the JVM heap size for Spring Boot?", hits).confident
        assert default.describe("demo")["signal"] == "fallback"  # the fitted threshold is not in force
    finally:
        store.close()


def test_confidence_reads_the_calibrated_order_and_the_best_probability(tmp_path: Path, embedder) -> None:  # noqa: ANN001
    """English hits arrive ordered by the stronger bi-encoder; refusal must judge the same top
    passages and probability whatever that order is."""
    from retrieval import HybridRetriever
    from service.confidence import ConfidenceScorer, by_probability

    store = _indexed_demo(tmp_path, embedder)
    question = "How do I add CORSMiddleware to allow another origin?"
    hits = HybridRetriever(store=store, embedder=embedder).search("demo", question, top_k=6, rerank=False)
    try:
        assert len(hits) >= 4
        # The best passage gets the lowest probability, so "first" and "most probable" differ.
        probs = [0.1 + 0.1 * i for i in range(len(hits))]
        scored = [replace(h, scores={**h.scores, "rerank": p}) for h, p in zip(hits, probs, strict=True)]
        calibrated = sorted(scored, key=lambda h: -h.scores["rerank"])
        assert by_probability(scored) == calibrated and by_probability(hits) == hits
        fallback = ConfidenceScorer(embedder=embedder, store=store, reranker=_Calibrated(0.5))
        judged = fallback.score("demo", question, scored).features
        assert judged == fallback.score("demo", question, calibrated).features
        assert judged != fallback.score("demo", question, hits).features  # the fused top passages differ
        by_rerank = ConfidenceScorer(
            embedder=embedder, store=store, reranker=_Calibrated(0.5), signal="rerank"
        )
        assert by_rerank.score("demo", question, scored).value == pytest.approx(max(probs))
    finally:
        store.close()


def test_term_statistics_follow_an_edited_page_with_the_same_chunk_count(
    tmp_path: Path,
    embedder,  # noqa: ANN001
) -> None:
    """A re-ingest that edits a page (same number of chunks) must reach the refusal features:
    keyed on the chunk count alone, a term added to the docs stayed "unknown" until a restart."""
    from service.confidence import TermStats
    from service.container import build_components
    from service.settings import Settings
    from tests.conftest import write_corpus

    corpus = write_corpus(tmp_path / "docs", {"guide.md": "# Guide\n\nWidgets are configured with a file.\n"})
    settings = Settings(_env_file=None, ossqa_data_dir=tmp_path / "data")  # type: ignore[call-arg]
    components = build_components(settings, embedder=embedder)
    try:
        components.ingest("demo", path=corpus)
        stats = TermStats(components.store)
        count = components.store.count("demo")
        assert "frobnic" not in stats.get("demo")[0]

        write_corpus(corpus, {"guide.md": "# Guide\n\nWidgets are frobnicated with a file.\n"})
        components.ingest("demo", path=corpus)
        assert components.store.count("demo") == count
        assert stats.get("demo")[0]["frobnic"] == 1  # the stemmed term
    finally:
        components.close()
