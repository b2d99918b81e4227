"""The per-project fine-tuned cross-encoder reranker with a calibrated probability.

    reranker = CrossEncoderReranker(data_dir=Path(".data"), embedder=embedder)
    hits = reranker.rerank("How do I read other fields in a validator?", hits, project="pydantic")
    hits[0].scores["rerank"]      # probability that this passage answers the question
    reranker.threshold("pydantic")  # refusal threshold fitted at training time, or None

Each project's model lives in OSSQA_DATA_DIR/models/<project>/reranker/ (written by
`ossqa train-reranker`). A project without one keeps the fused order and gets no
`rerank` score, so the caller knows there is no calibrated probability to refuse on.

Ranking and probability are separate jobs. When training stored vectors of a stronger
bi-encoder (all-mpnet-base-v2) for the project, English questions are ordered by its cosine
to each candidate (`scores["strong"]`): on real questions it ranks far better than the
calibrated score, whose weights are fitted on generated questions (eval/results/rerank.md).
`score` and `scores["rerank"]` stay the calibrated probability, which refusal reads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedders import mpnet
from retrieval.embedders.base import BaseEmbedder
from retrieval.rerank.base import BaseReranker
from retrieval.rerank.features import FEATURES, feature_matrix, logistic
from retrieval.rerank.training.passages import pair_text, text_key
from retrieval.tokenize import question_lang
from retrieval.types import Hit

MANIFEST = "manifest.json"
CALIBRATOR = "calibrator.json"
VECTORS = "vectors.npz"
STRONG_VECTORS = "vectors-strong.npz"
# English pairs are cut to 96 tokens at inference: 20 candidates cost ~195 ms instead of ~295 ms
# on one thread, with the same served MRR@10 and recall@5 on Pydantic (eval/results/rerank.md,
# session 9). Chinese questions keep the trained length: each Chinese character is one token,
# and at 96 llamafactory lost a question from recall@5.
EN_MAX_LENGTH = 96
CHARS_PER_TOKEN = 8
# When the stronger bi-encoder orders a question, the cross-encoder only scores the top fused
# candidates, beside it: the order is decided by the bi-encoder, and the probability is needed
# for the passages that can reach the prompt and the refusal decision (eval/results/rerank.md,
# session 10).
CE_TOP_N = 10
# Pairs are scored in batches of this many. Dynamic int8 quantises each batch's activations
# as one tensor, so a pair's logit depends (by up to ~0.8 logit) on the pairs beside it: training
# calibrates on the same batches as serving. 10 = CE_TOP_N, and two batches of 20 Chinese
# candidates run on both cores (~300 -> ~165 ms, eval/results/rerank.md).
CE_BATCH = 10


def model_dir(data_dir: Path, project: str) -> Path:
    return Path(data_dir) / "models" / project / "reranker"


def work_dir(data_dir: Path, project: str) -> Path:
    """Training's generated questions (reused by the next run) and its model being built."""
    return Path(data_dir) / "models" / project / "reranker-work"


def similarity_embedder(embedder: BaseEmbedder | None) -> BaseEmbedder | None:
    """The cross-lingual part of the retrieval embedder (USE inside use+minilm): the
    similarity feature must mean the same for Chinese and English questions."""
    return getattr(embedder, "multilingual", embedder)


class PassageVectors:
    """One embedder's unit vectors of a project's passages, keyed by text_key. A passage
    missing from the file (changed since training) is embedded once and remembered. With
    `langs`, passages in other languages are never embedded (the model cannot read them, and
    training skipped them to save time): their cosine is -1, so they rank last."""

    def __init__(self, embedder: BaseEmbedder, file: Path | None, *, langs: tuple[str, ...] = ()) -> None:
        self.embedder = embedder
        self.langs = langs
        self.vectors: dict[str, np.ndarray] = {}
        if file is not None and file.exists():
            data = np.load(file)
            self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        self._lock = threading.Lock()

    def cos(self, query_vector: np.ndarray, hits: list[Hit]) -> np.ndarray:
        keys = [text_key(h.text) for h in hits]
        readable = [not self.langs or not h.lang or h.lang in self.langs for h in hits]
        missing = [i for i, k in enumerate(keys) if k not in self.vectors and readable[i]]
        if missing:
            texts = [pair_text(hits[i].breadcrumb, hits[i].title, hits[i].text) for i in missing]
            vecs = self.embedder.embed_documents(texts)
            with self._lock:
                for i, v in zip(missing, vecs, strict=True):
                    self.vectors[keys[i]] = v
        pairs = zip(keys, readable, strict=True)
        return np.array([float(self.vectors[k] @ query_vector) if ok else -1.0 for k, ok in pairs])


class ProjectModel:
    """One project's trained scorer: the cross-encoder (int8 on CPU), the cached dense
    vectors of its passages, the per-language logistic calibrator and, when trained with
    one, the stronger bi-encoder's passage vectors that order English questions."""

    def __init__(
        self,
        folder: Path,
        *,
        embedder: BaseEmbedder | None,
        strong: BaseEmbedder | None = None,
        quantize: bool = True,
        en_max_length: int | None = EN_MAX_LENGTH,
    ) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        self.folder = Path(folder)
        self.manifest: dict[str, Any] = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        self.max_length = int(self.manifest.get("max_length", 128))
        self.en_max_length = min(en_max_length or self.max_length, self.max_length)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        model = AutoModelForSequenceClassification.from_pretrained(str(self.folder)).eval()
        if quantize:
            # Dynamic int8 on the Linear layers: ~2-3x faster on CPU, same ranking (see
            # eval/bench_rerank.py); the file stays fp32 so it can be fine-tuned again.
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model
        cal_file = self.folder / CALIBRATOR
        self.calibrator: dict[str, Any] = (
            json.loads(cal_file.read_text(encoding="utf-8")) if cal_file.exists() else {}
        )
        self.embedder = embedder = similarity_embedder(embedder)
        self.dense: PassageVectors | None = None
        if embedder is not None:
            same = self.manifest.get("embedder") == embedder.name
            self.dense = PassageVectors(embedder, self.folder / VECTORS if same else None)
        spec = self.manifest.get("strong") or {}
        self.strong_langs: tuple[str, ...] = tuple(spec.get("langs", ()))
        self.strong: PassageVectors | None = None
        if strong is not None and spec.get("model") == strong.name:
            self.strong = PassageVectors(strong, self.folder / STRONG_VECTORS, langs=self.strong_langs)

    def length_for(self, query: str) -> int:
        return self.en_max_length if question_lang(query) == "en" else self.max_length

    def ce_logits(
        self, query: str, passages: list[str], *, batch_size: int = CE_BATCH, pool: Executor | None = None
    ) -> np.ndarray:
        """Raw cross-encoder logits, scored in fixed batches of `batch_size` pairs. With `pool`,
        the batches run side by side (one torch thread each), so an idle machine's second
        core works too. Parallel or not, the batches are the same, and so are the logits."""
        batches = [passages[i : i + batch_size] for i in range(0, len(passages), batch_size)]
        if not batches:
            return np.zeros(0)
        if pool is None or len(batches) == 1:
            return np.concatenate([self._score_batch(query, b) for b in batches])
        others = [pool.submit(self._score_batch, query, b) for b in batches[1:]]
        first = self._score_batch(query, batches[0])
        return np.concatenate([first, *(f.result() for f in others)])

    def _score_batch(self, query: str, passages: list[str]) -> np.ndarray:
        import torch

        max_length = self.length_for(query)
        # The tokenizer reads a whole passage before truncating it, but the pair keeps at most
        # max_length tokens of it. Cutting the text first saves ~20 ms on 20 long passages and
        # keeps the same tokens: their first 96-128 tokens span at most 5.2 characters per token
        # on the Pydantic and LLaMA-Factory docs (3.3 / 2.0 at the median), CHARS_PER_TOKEN is 8.
        cut = max_length * CHARS_PER_TOKEN
        enc = self.tokenizer(
            [query] * len(passages),
            [p[:cut] for p in passages],
            truncation="longest_first",
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            return self.model(**enc).logits.squeeze(-1).float().numpy()

    def dense_cos(self, query: str, hits: list[Hit]) -> np.ndarray:
        if self.dense is None:
            return np.zeros(len(hits))
        return self.dense.cos(self.dense.embedder.embed_query(query), hits)

    def orders(self, query: str) -> bool:
        """Whether the stronger bi-encoder orders this question (it reads its language)."""
        return self.strong is not None and question_lang(query) in self.strong_langs

    def strong_query(self, query: str) -> np.ndarray | None:
        """The stronger bi-encoder's question vector, or None when it does not rank this question."""
        if not self.orders(query):
            return None
        assert self.strong is not None
        return self.strong.embedder.embed_query(query)

    def strong_cos(self, query_vector: np.ndarray | None, hits: list[Hit]) -> np.ndarray | None:
        """The stronger bi-encoder's cosines for `strong_query`'s vector (None: it does not rank)."""
        if self.strong is None or query_vector is None:
            return None
        return self.strong.cos(query_vector, hits)

    def features(self, query: str, hits: list[Hit], *, pool: Executor | None = None) -> np.ndarray:
        texts = [pair_text(h.breadcrumb, h.title, h.text) for h in hits]
        logits = self.ce_logits(query, texts, pool=pool)
        return feature_matrix(logits, self.dense_cos(query, hits), query, texts)

    def probabilities(self, query: str, features: np.ndarray) -> np.ndarray:
        weights = self.calibrator.get(question_lang(query)) or self.calibrator.get("all")
        if not weights:  # no calibrator: squash the raw cross-encoder logit
            return 1.0 / (1.0 + np.exp(-features[:, FEATURES.index("ce_logit")]))
        return logistic(features, weights)


class CrossEncoderReranker(BaseReranker):
    """Loads each project's model lazily on first use and reloads it after retraining."""

    name = "cross-encoder"

    def __init__(
        self,
        *,
        data_dir: Path,
        embedder: BaseEmbedder | None = None,
        strong: BaseEmbedder | None = None,
        threads: int = 1,
        quantize: bool = True,
        en_max_length: int | None = EN_MAX_LENGTH,
        ce_top_n: int | None = CE_TOP_N,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.en_max_length = en_max_length
        self.ce_top_n = ce_top_n  # None: the cross-encoder scores every candidate
        self.embedder = embedder
        self._strong = strong  # loaded on first use by a project trained with it (~440 MB)
        self.threads = threads
        self.quantize = quantize
        self._models: dict[str, tuple[float, ProjectModel]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="strong-query")

    def strong_embedder(self, name: str | None) -> BaseEmbedder | None:
        """The stronger bi-encoder a project was trained with, if this install has it."""
        if not name:
            return None
        if self._strong is None and name == mpnet.NAME:
            self._strong = mpnet.load_if_installed(self.data_dir)
        return self._strong if self._strong is not None and self._strong.name == name else None

    def model(self, project: str) -> ProjectModel | None:
        manifest = model_dir(self.data_dir, project) / MANIFEST
        try:
            mtime = manifest.stat().st_mtime
        except FileNotFoundError:
            return None
        with self._lock:
            cached = self._models.get(project)
            if cached is None or cached[0] != mtime:
                import torch

                # One thread per request measured fastest on 2 shared cores (eval/bench_rerank.py).
                torch.set_num_threads(self.threads)
                try:
                    spec = json.loads(manifest.read_text(encoding="utf-8")).get("strong") or {}
                    pm = ProjectModel(
                        manifest.parent,
                        embedder=self.embedder,
                        strong=self.strong_embedder(spec.get("model")),
                        quantize=self.quantize,
                        en_max_length=self.en_max_length,
                    )
                except Exception:
                    # The project was deleted while its files were being read: it has no
                    # model now, so the fused order serves. Any other failure is a real error.
                    if manifest.exists():
                        raise
                    self._models.pop(project, None)
                    return None
                self._models[project] = (mtime, pm)
            return self._models[project][1]

    def forget(self, project: str) -> None:
        with self._lock:
            self._models.pop(project, None)

    def rerank(self, query: str, hits: list[Hit], *, project: str) -> list[Hit]:
        return self.start(query, project=project)(hits)

    def start(self, query: str, *, project: str) -> Callable[[list[Hit]], list[Hit]]:
        pm = self.model(project)
        if pm is None:
            return lambda hits: hits
        # The stronger bi-encoder's question embedding (~140 ms on one thread for a real
        # question) starts now, beside first-stage retrieval and then the cross-encoder (one
        # thread each; torch releases the GIL).
        pending = self._pool.submit(pm.strong_query, query) if pm.orders(query) else None
        return lambda hits: self._rerank(pm, query, hits, pending)

    def _rerank(self, pm: ProjectModel, query: str, hits: list[Hit], pending: Future | None) -> list[Hit]:
        if not hits:
            return hits
        # When the bi-encoder orders the question, the cross-encoder's probability is only
        # needed near the top: it scores the first CE_TOP_N fused candidates (its cost grows
        # with the pair count, ~10 ms a pair on one thread).
        n = len(hits)
        if self.ce_top_n and pending is not None:
            n = min(n, self.ce_top_n)
        # Without the bi-encoder's question embedding running, the second core is free: the
        # cross-encoder's pairs are split across both.
        feats = pm.features(query, hits[:n], pool=self._pool if pending is None else None)
        probs = pm.probabilities(query, feats)
        ce = feats[:, FEATURES.index("ce_logit")]
        strong = pm.strong_cos(pending.result(), hits) if pending is not None else None
        out = []
        for i, h in enumerate(hits):
            scores = dict(h.scores)
            if i < n:
                scores.update(rerank=float(probs[i]), ce=float(ce[i]))
            if strong is not None:
                scores["strong"] = float(strong[i])
            out.append(replace(h, score=scores.get("rerank", h.score), scores=scores))
        if strong is None:
            return sorted(out, key=lambda h: -h.score)  # stable: equal keys keep the fused order
        # Passages it cannot read (all at -1) fall back to the calibrated order among themselves.
        return sorted(out, key=lambda h: (-h.scores["strong"], -h.scores.get("rerank", -1.0)))

    def threshold(self, project: str) -> float | None:
        pm = self.model(project)
        if pm is None:
            return None
        value = (pm.manifest.get("threshold") or {}).get("value")
        return float(value) if value is not None else None

    def describe(self, project: str) -> dict[str, Any]:
        pm = self.model(project)
        if pm is None:
            return {
                "name": self.name,
                "trained": False,
                "note": f"no trained model; run `ossqa train-reranker {project}` (fused order is used)",
            }
        return {"name": self.name, "trained": True, **pm.manifest}
