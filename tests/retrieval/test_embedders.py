import numpy as np

from retrieval.embedders import create_embedder
from retrieval.embedders.concat import ConcatEmbedder


def test_use_is_cross_lingual(embedder) -> None:  # noqa: ANN001
    en, zh, other = embedder.embed_documents(
        ["How do I enable CORS?", "如何启用 CORS？", "A recipe for pizza dough"]
    )
    assert float(en @ zh) > float(en @ other) + 0.3


def test_concat_scores_are_a_weighted_sum_of_both_models() -> None:
    combo = create_embedder("use+minilm")
    assert isinstance(combo, ConcatEmbedder)
    docs = ["Add CORSMiddleware to allow cross-origin requests.", "Background tasks run after the response."]
    d = combo.embed_documents(docs)
    assert d.shape == (2, combo.dim)
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
    q = "enable cross-origin requests"
    u = combo.multilingual.embed_documents(docs) @ combo.multilingual.embed_query(q)
    m = combo.english.embed_documents(docs) @ combo.english.embed_query(q)
    a, b = combo.en_weights
    expected = (a * u + b * m) / np.sqrt(2) / np.hypot(a, b)
    assert np.allclose(d @ combo.embed_query(q), expected, atol=1e-4)


def test_chinese_queries_use_only_the_multilingual_part() -> None:
    combo = create_embedder("use+minilm")
    v = combo.embed_query("如何启用跨域请求？")
    assert np.allclose(v[combo.multilingual.dim :], 0.0)
