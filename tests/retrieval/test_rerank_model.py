"""The trained cross-encoder: a TINY model (MiniLM cut to 2 layers, short inputs) trained in
seconds on fixture pairs, saved, reloaded by the serving class, and used through the API."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.run import run_ingest
from retrieval.embedders import BaseEmbedder
from retrieval.rerank.cross_encoder import CALIBRATOR, MANIFEST, CrossEncoderReranker, ProjectModel, model_dir
from retrieval.rerank.training.train import TrainConfig, base_model_path, load_model, train_cross_encoder
from retrieval.tokenize import detect_lang, question_lang
from retrieval.types import Hit
from service.container import build_components
from service.main import create_app
from service.settings import Settings

TOPICS = {
    "How do I allow requests from another origin?": "CORS\nAdd CORSMiddleware and list allowed origins.",
    "How can I run work after sending the response?": "Background Tasks\nCall background_tasks.add_task.",
    "How do I read settings from environment variables?": "Settings\nUse a settings class with env prefix.",
    "How do I upload a file?": "Request Files\nDeclare an UploadFile parameter to receive files.",
}
OFF_TOPIC = [
    "Pasta\nBoil the pasta for nine minutes in salted water.",
    "Weather\nTomorrow will be sunny with a light breeze.",
    "Gardening\nWater tomatoes in the morning, not at noon.",
]


def _pairs() -> list[tuple[str, str, float]]:
    positives = [(q, p, 1.0) for q, p in TOPICS.items()] * 3
    return positives + [(q, p, 0.0) for q in TOPICS for p in OFF_TOPIC]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train once per module: MiniLM cut to 2 frozen layers, so only the pooler and the new
    head learn (seconds, even on a busy CPU; the real run also trains the upper layers)."""
    root = tmp_path_factory.mktemp("tiny")
    model, tok = load_model(base_model_path(), keep_layers=2)
    model.save_pretrained(str(root / "base"))
    tok.save_pretrained(str(root / "base"))  # type: ignore[attr-defined]
    config = TrainConfig(
        max_length=32, batch_size=8, epochs=10, lr=1e-3, head_lr=1e-2, keep_layers=0, freeze_layers=2
    )
    result = train_cross_encoder(_pairs(), root / "model", config=config, base_path=str(root / "base"))
    assert result.steps == 30 and not result.stopped_early
    manifest = {"project": "demo", "max_length": 32, "embedder": "none", "threshold": {"value": 0.5}}
    (root / "model" / MANIFEST).write_text(json.dumps(manifest))
    (root / "model" / CALIBRATOR).write_text(json.dumps({"all": {"w": [1.0, 0.0, 0.0, 0.0], "b": 0.0}}))
    return root / "model"


def test_trained_model_reloads_and_ranks_fixture_pairs(tiny_model: Path) -> None:
    first = ProjectModel(tiny_model, embedder=None, quantize=False)
    again = ProjectModel(tiny_model, embedder=None, quantize=False)
    int8 = ProjectModel(tiny_model, embedder=None, quantize=True)  # as served
    for q, positive in TOPICS.items():
        logits = first.ce_logits(q, [positive, *OFF_TOPIC])
        assert logits[0] > logits[1:].max(), q
        assert again.ce_logits(q, [positive, *OFF_TOPIC]) == pytest.approx(logits, abs=1e-5)
        assert int8.ce_logits(q, [positive, *OFF_TOPIC]).argmax() == 0


def test_batches_scored_on_two_threads_give_the_same_logits(tiny_model: Path) -> None:
    """int8 quantises a batch's activations together: the batches, not the threads, decide
    a logit, so serving in parallel matches the sequential scoring training calibrates on."""
    from concurrent.futures import ThreadPoolExecutor

    pm = ProjectModel(tiny_model, embedder=None, quantize=True)
    passages = [*TOPICS.values(), *OFF_TOPIC]  # 7 pairs: batches of 3, 3 and 1
    with ThreadPoolExecutor(max_workers=2) as pool:
        for q in TOPICS:
            parallel = pm.ce_logits(q, passages, batch_size=3, pool=pool)
            assert parallel.tolist() == pm.ce_logits(q, passages, batch_size=3).tolist(), q


def test_english_pairs_are_cut_to_the_serving_length_chinese_keep_the_trained_one(tiny_model: Path) -> None:
    long_passage = "Request Files\n" + "Declare an UploadFile parameter to receive files. " * 6
    short = ProjectModel(tiny_model, embedder=None, quantize=False, en_max_length=12)
    trained = ProjectModel(tiny_model, embedder=None, quantize=False, en_max_length=None)
    over = ProjectModel(tiny_model, embedder=None, quantize=False, en_max_length=512)  # capped at 32
    en, zh = "How do I upload a file?", "如何上传一个文件？"
    assert short.ce_logits(en, [long_passage]) != pytest.approx(
        trained.ce_logits(en, [long_passage]), abs=1e-4
    )
    assert short.ce_logits(zh, [long_passage]) == pytest.approx(
        trained.ce_logits(zh, [long_passage]), abs=1e-6
    )
    assert over.ce_logits(en, [long_passage]) == pytest.approx(
        trained.ce_logits(en, [long_passage]), abs=1e-6
    )


def test_passages_cut_before_tokenising_score_as_if_whole(tiny_model: Path) -> None:
    import torch

    pm = ProjectModel(tiny_model, embedder=None, quantize=False)
    passage = "Request Files\n" + "Declare an UploadFile parameter to receive files. " * 40
    q = "How do I upload a file?"
    enc = pm.tokenizer(q, passage, truncation="longest_first", max_length=pm.max_length, return_tensors="pt")
    with torch.inference_mode():
        whole = float(pm.model(**enc).logits.squeeze())
    assert len(passage) > pm.max_length * 8  # the passage really is cut
    assert pm.ce_logits(q, [passage])[0] == pytest.approx(whole, abs=1e-5)


def _hit(i: int, text: str) -> Hit:
    title, _, body = text.partition("\n")
    return Hit(
        id=str(i),
        score=1.0 / (60 + i),
        path=f"docs/{i}.md",
        url="",
        title=title,
        breadcrumb=title,
        text=body,
        source_type="doc",
        scores={"fused": 1.0 / (60 + i)},
    )


def test_reranker_orders_by_calibrated_probability(tiny_model: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_model, model_dir(tmp_path, "demo"))
    reranker = CrossEncoderReranker(data_dir=tmp_path, embedder=None, quantize=False)
    q = "How do I upload a file?"
    hits = [_hit(i, t) for i, t in enumerate([*OFF_TOPIC, TOPICS[q]])]  # the answer is fused last
    out = reranker.rerank(q, hits, project="demo")
    assert out[0].title == "Request Files"
    probs = [h.scores["rerank"] for h in out]
    assert probs == sorted(probs, reverse=True) and all(0.0 <= p <= 1.0 for p in probs)
    assert [h.score for h in out] == probs and out[0].scores["fused"] == hits[-1].score
    assert reranker.threshold("demo") == 0.5
    assert reranker.describe("demo")["trained"] is True


def test_project_without_model_keeps_fused_order(tmp_path: Path) -> None:
    reranker = CrossEncoderReranker(data_dir=tmp_path, embedder=None)
    hits = [_hit(i, t) for i, t in enumerate([*OFF_TOPIC, *TOPICS.values()])]
    assert reranker.rerank("How do I upload a file?", hits, project="other") == hits
    assert all("rerank" not in h.scores for h in hits)
    assert reranker.threshold("other") is None
    info = reranker.describe("other")
    assert info["trained"] is False and "train-reranker other" in info["note"]


@pytest.fixture
def client(
    tiny_model: Path, tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder
) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, ossqa_data_dir=tmp_path / "data", rate_limit_per_min=0)  # type: ignore[call-arg]
    components = build_components(settings, embedder=embedder)
    run_ingest(components.ingester(), "demo", path=tiny_corpus)
    shutil.copytree(tiny_model, model_dir(settings.ossqa_data_dir, "demo"))
    with TestClient(create_app(settings, components=components)) as c:
        yield c
    components.close()


def test_rerank_false_bypasses_the_reranker_through_post_search(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    components = client.app.state.components  # type: ignore[attr-defined]
    reranker = components.retriever.reranker
    assert isinstance(reranker, CrossEncoderReranker)
    calls: list[str] = []
    real = reranker.start
    monkeypatch.setattr(reranker, "start", lambda q, project: calls.append(q) or real(q, project=project))
    body = {"project": "demo", "query": "How do I test my app without a server?", "top_k": 4}

    off = client.post("/search", json={**body, "rerank": False}).json()["hits"]
    assert calls == []
    fused = components.retriever.search("demo", body["query"], top_k=4, rerank=False)
    assert [h["path"] for h in off] == [h.path for h in fused]
    assert [h["score"] for h in off] == pytest.approx([h.score for h in fused])

    on = client.post("/search", json=body).json()["hits"]
    assert calls == [body["query"]]
    scores = [h["score"] for h in on]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)

    info = client.get("/projects/demo").json()["reranker"]
    assert info["trained"] is True and info["threshold"]["value"] == 0.5


def test_listwise_loss_prefers_the_positive_on_top() -> None:
    import torch

    from retrieval.rerank.training.train import _listwise_loss

    batch = [("q", ["pos", "neg", "neg"], [1.0, 0.0, 0.0]), ("r", ["neg"], [0.0])]
    good = _listwise_loss(torch.tensor([3.0, 0.0, -1.0, 0.5]), batch)
    bad = _listwise_loss(torch.tensor([-1.0, 3.0, 0.0, 0.5]), batch)
    assert float(good) < 0.1 < float(bad)
    assert float(_listwise_loss(torch.tensor([0.3]), [("r", ["neg"], [0.0])])) == 0.0


def _with_strong_vectors(tiny_model: Path, data_dir: Path, strong: BaseEmbedder, texts: list[str]) -> None:
    """The tiny model installed with stronger bi-encoder vectors for `texts` only."""
    import numpy as np

    from retrieval.rerank.cross_encoder import STRONG_VECTORS
    from retrieval.rerank.training.passages import pair_text, text_key

    folder = model_dir(data_dir, "demo")
    shutil.copytree(tiny_model, folder)
    hits = [_hit(i, t) for i, t in enumerate(texts)]
    vectors = strong.embed_documents([pair_text(h.breadcrumb, h.title, h.text) for h in hits])
    np.savez(folder / STRONG_VECTORS, keys=np.array([text_key(h.text) for h in hits]), vectors=vectors)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["strong"] = {"model": strong.name, "langs": ["en"]}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_english_questions_are_ordered_by_the_stronger_bi_encoder(
    tiny_model: Path, tmp_path: Path, mpnet_embedder: BaseEmbedder
) -> None:
    passages = [*OFF_TOPIC, *TOPICS.values()]
    _with_strong_vectors(tiny_model, tmp_path, mpnet_embedder, passages[:-1])  # one passage is new
    reranker = CrossEncoderReranker(data_dir=tmp_path, embedder=None, strong=mpnet_embedder, quantize=False)
    hits = [_hit(i, t) for i, t in enumerate(passages)]
    q = "How can my endpoint accept a document the client uploads?"  # a paraphrase of "Request Files"
    out = reranker.rerank(q, hits, project="demo")
    strong = [h.scores["strong"] for h in out]
    assert strong == sorted(strong, reverse=True) and out[0].title == "Request Files"
    # The probability is still the calibrated one, for refusal; only the order changed.
    pm = reranker.model("demo")
    assert pm is not None
    probs = pm.probabilities(q, pm.features(q, hits))
    by_id = {h.id: float(p) for h, p in zip(hits, probs, strict=True)}
    assert all(h.score == h.scores["rerank"] == pytest.approx(by_id[h.id]) for h in out)
    # A reranker given no model loads the packaged one itself for a project trained with it.
    served = CrossEncoderReranker(data_dir=tmp_path, embedder=None, quantize=False)
    assert [h.id for h in served.rerank(q, hits, project="demo")] == [h.id for h in out]


def test_passages_the_stronger_model_cannot_read_rank_last_and_are_not_embedded(
    tiny_model: Path, tmp_path: Path, mpnet_embedder: BaseEmbedder
) -> None:
    """Training embeds English passages only. A Chinese candidate for an English question is
    not embedded at serving time (~0.7 s each, and mpnet cannot read it): it ranks last."""
    from dataclasses import replace

    from retrieval.rerank.training.passages import text_key

    passages = [*OFF_TOPIC, *TOPICS.values()]
    _with_strong_vectors(tiny_model, tmp_path, mpnet_embedder, passages)
    reranker = CrossEncoderReranker(data_dir=tmp_path, embedder=None, strong=mpnet_embedder, quantize=False)
    zh = replace(_hit(len(passages), "上传文件\n使用 File 和 UploadFile 接收客户端上传的文件。"), lang="zh")
    hits = [zh, *(_hit(i, t) for i, t in enumerate(passages))]
    out = reranker.rerank("How can my endpoint accept a document the client uploads?", hits, project="demo")
    assert out[-1].id == zh.id and out[-1].scores["strong"] == -1.0
    # Among passages it cannot read, the calibrated probability decides.
    zh2 = replace(zh, id="zh2", text="文件上传\n客户端可以上传文件。")
    for pair in ([zh2, zh], [zh, zh2]):  # whatever the fused order
        unread = reranker.rerank("How do I upload a file?", pair, project="demo")
        assert unread[0].score > unread[1].score
    assert out[0].title == "Request Files"
    pm = reranker.model("demo")
    assert pm is not None and pm.strong is not None
    assert text_key(zh.text) not in pm.strong.vectors


def test_chinese_questions_keep_the_calibrated_order(
    tiny_model: Path, tmp_path: Path, mpnet_embedder: BaseEmbedder
) -> None:
    passages = [*OFF_TOPIC, *TOPICS.values()]
    _with_strong_vectors(tiny_model, tmp_path, mpnet_embedder, passages)
    reranker = CrossEncoderReranker(data_dir=tmp_path, embedder=None, strong=mpnet_embedder, quantize=False)
    hits = [_hit(i, t) for i, t in enumerate(passages)]
    # The second is mostly a pasted English error, but mpnet cannot read the question around it.
    pasted = "上传文件时报错 ValueError: Expected UploadFile, received a plain string for the file parameter"
    assert question_lang(pasted) == "zh" and detect_lang(pasted) == "en"
    for q in ("怎么上传文件？", pasted):
        out = reranker.rerank(q, hits, project="demo")
        assert all("strong" not in h.scores for h in out)
        assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)


def test_only_the_top_fused_candidates_get_a_probability_when_the_bi_encoder_orders(
    tiny_model: Path, tmp_path: Path, mpnet_embedder: BaseEmbedder
) -> None:
    """The cascade: for an English question the cross-encoder scores the first `ce_top_n` fused
    candidates only (the bi-encoder orders all of them); a Chinese question is scored in full."""
    passages = [*OFF_TOPIC, *TOPICS.values()]
    _with_strong_vectors(tiny_model, tmp_path, mpnet_embedder, passages)
    reranker = CrossEncoderReranker(
        data_dir=tmp_path, embedder=None, strong=mpnet_embedder, quantize=False, ce_top_n=3
    )
    hits = [_hit(i, t) for i, t in enumerate(passages)]
    out = reranker.rerank("How can my endpoint accept a document the client uploads?", hits, project="demo")
    assert {h.id for h in out if "rerank" in h.scores} == {h.id for h in hits[:3]}
    strong = [h.scores["strong"] for h in out]
    assert strong == sorted(strong, reverse=True) and out[0].title == "Request Files"
    full = CrossEncoderReranker(data_dir=tmp_path, embedder=None, strong=mpnet_embedder, quantize=False)
    same = full.rerank("How can my endpoint accept a document the client uploads?", hits, project="demo")
    assert [h.id for h in same] == [h.id for h in out]  # the order does not depend on the cascade
    zh = reranker.rerank("怎么上传文件？", hits, project="demo")
    assert all("rerank" in h.scores for h in zh)


def test_a_deleted_project_is_forgotten_even_mid_load(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ossqa delete` removes the model folder while requests may be loading it: a load that
    finds the folder gone means "no model" (fused order), not a 500; a broken model whose
    manifest is still there is a real error and is raised."""
    from retrieval.rerank import cross_encoder

    folder = model_dir(tmp_path, "demo")
    shutil.copytree(tiny_model, folder)
    reranker = CrossEncoderReranker(data_dir=tmp_path, embedder=None, quantize=False)
    assert reranker.model("demo") is not None
    reranker.forget("demo")
    assert reranker._models == {}

    real = cross_encoder.ProjectModel

    def deleted_meanwhile(path: Path, **kwargs: object) -> ProjectModel:
        shutil.rmtree(folder)  # the delete wins the race after the manifest was seen
        return real(path, **kwargs)  # type: ignore[arg-type]

    (folder / MANIFEST).touch()  # a new mtime: the cached model would be reloaded
    monkeypatch.setattr(cross_encoder, "ProjectModel", deleted_meanwhile)
    hits = [_hit(i, t) for i, t in enumerate(OFF_TOPIC)]
    assert reranker.rerank("How do I upload a file?", hits, project="demo") == hits
    assert reranker._models == {}

    monkeypatch.setattr(cross_encoder, "ProjectModel", real)
    shutil.copytree(tiny_model, folder)
    (folder / "config.json").unlink()  # broken, not deleted
    with pytest.raises(ValueError, match="config.json"):
        reranker.model("demo")


def test_deleting_a_project_drops_its_loaded_model(client: TestClient) -> None:
    components = client.app.state.components  # type: ignore[attr-defined]
    reranker = components.retriever.reranker
    assert (
        client.post("/search", json={"project": "demo", "query": "How do I upload a file?"}).status_code
        == 200
    )
    assert "demo" in reranker._models
    deletion = components.delete_project("demo")
    assert deletion is not None and deletion.reranker
    assert "demo" not in reranker._models and reranker.model("demo") is None
    assert (
        client.post("/search", json={"project": "demo", "query": "How do I upload a file?"}).status_code
        == 404
    )
