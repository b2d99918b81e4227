"""`ossqa train-reranker PROJECT`: build pairs from the project's chunks, fine-tune the
cross-encoder, fit the calibrator and the refusal threshold, and write the model folder.

    manifest = train_reranker(project="pydantic", store=store, retriever=retriever,
                              embedder=embedder, data_dir=Path(".data"), complete=llm)

Everything is written to a temporary folder and renamed into place at the end, so a
running server never loads half a model (it reloads when manifest.json changes).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedders import mpnet
from retrieval.embedders.base import BaseEmbedder
from retrieval.hybrid import HybridRetriever
from retrieval.rerank.cross_encoder import (
    CALIBRATOR,
    MANIFEST,
    STRONG_VECTORS,
    VECTORS,
    ProjectModel,
    model_dir,
    similarity_embedder,
    work_dir,
)
from retrieval.rerank.features import FEATURES, logistic
from retrieval.rerank.training.bases import BASES
from retrieval.rerank.training.calibrate import ThresholdFit, auroc, fit_logistic, fit_threshold, prf
from retrieval.rerank.training.generate import Complete, generate_questions
from retrieval.rerank.training.offtopic import OFFTOPIC_EN, OFFTOPIC_ZH
from retrieval.rerank.training.pairs import (
    Candidates,
    Group,
    Query,
    discussion_queries,
    retrieve,
    round_trip,
    training_groups,
)
from retrieval.rerank.training.passages import Passage, load_passages, pair_text
from retrieval.rerank.training.queries import heading_queries, identifier_queries, sentence_queries
from retrieval.rerank.training.train import TrainConfig, base_model_path, train_cross_encoder
from retrieval.store.base import BaseStore
from retrieval.tokenize import question_lang


@dataclass(frozen=True)
class RerankerTrainConfig:
    generate: int = 96  # LLM questions (half English, half Chinese); 0 = none
    generate_max_seconds: float = 10 * 60  # with 14 min of training: ~30 min for a FastAPI-sized corpus
    generate_workers: int = 2
    max_heading_queries: int = 400
    max_identifier_queries: int = 200
    max_sentence_queries: int = 600
    other_corpus_queries: int = 60  # refusal queries drawn from each other ingested project
    top_n: int = 20  # candidates per query, as served (RERANK_TOP_N)
    max_train_pairs: int = 6000  # passages scored in training, summed over groups
    target_precision: float = 0.9
    train: TrainConfig = field(default_factory=TrainConfig)
    # Embed every English passage with all-mpnet-base-v2 (~1.5 passages/s) so English
    # questions are ordered by it at serving time; skipped (with a note) when its packages
    # are missing.
    strong: bool = True
    # The whole run aims to end within this: the training loop gets what is left after the
    # questions and the passage vectors (never less than MIN_TRAIN_S, never more than
    # train.max_seconds), with CALIBRATION_RESERVE_S kept for calibration.
    total_max_seconds: float = 30 * 60
    seed: int = 0
    # The cross-encoder's starting checkpoint (bases.BASES). MiniLM even for Chinese: e5 read
    # llamafactory's Chinese questions no better, at 4 or 12 layers (eval/results/tried.md).
    base: str = "minilm"


Log = Callable[[str], None]
STRONG_LANGS = ("en",)  # all-mpnet-base-v2 reads English only
MIN_TRAIN_S = 4 * 60
CALIBRATION_RESERVE_S = 90


def answerable_queries(
    passages: Sequence[Passage],
    config: RerankerTrainConfig,
    *,
    complete: Complete | None,
    cache_file: Path | None,
    log: Log,
) -> tuple[list[Query], dict[str, Any]]:
    by_key = {p.key: p for p in passages}
    rng = random.Random(config.seed)
    queries: list[Query] = []
    gen_info: dict[str, Any] = {"requested": config.generate, "made": 0, "seconds": 0.0}
    if config.generate > 0 and (complete is not None or (cache_file and cache_file.exists())):
        t0 = time.perf_counter()

        def no_llm(prompt: str) -> str:
            raise RuntimeError("no LLM")

        generated = generate_questions(
            passages,
            complete or no_llm,
            count=config.generate,
            cache_file=cache_file,
            workers=config.generate_workers,
            max_seconds=config.generate_max_seconds,
        )
        gen_info.update(
            made=len(generated),
            seconds=round(time.perf_counter() - t0, 1),
            llm_seconds=round(sum(g.seconds for g in generated), 1),
            langs=dict(Counter(g.lang for g in generated)),
        )
        queries += [
            Query(g.question, g.lang, "generated", by_key[g.key]) for g in generated if g.key in by_key
        ]
        log(f"generated questions: {len(generated)} in {gen_info['seconds']} s")
    heads = heading_queries(passages, seed=config.seed)
    idents = identifier_queries(passages, seed=config.seed)
    rng.shuffle(heads)
    rng.shuffle(idents)
    queries += [Query(t.question, t.lang, t.kind, by_key[t.key]) for t in heads[: config.max_heading_queries]]
    queries += [
        Query(t.question, t.lang, t.kind, by_key[t.key]) for t in idents[: config.max_identifier_queries]
    ]
    sentences = sentence_queries(passages, seed=config.seed)
    rng.shuffle(sentences)
    queries += [
        Query(t.question, t.lang, t.kind, by_key[t.key]) for t in sentences[: config.max_sentence_queries]
    ]
    queries += discussion_queries(passages)
    return queries, gen_info


def refusal_queries(
    store: BaseStore, project: str, data_dir: Path, config: RerankerTrainConfig
) -> list[Query]:
    """Bundled off-topic questions plus questions from the other ingested projects."""
    rng = random.Random(config.seed)
    out = [Query(q, "en", "offtopic", None) for q in OFFTOPIC_EN]
    out += [Query(q, "zh", "offtopic", None) for q in OFFTOPIC_ZH]
    name = project.lower()
    for other in sorted(store.projects()):
        if other == project:
            continue
        texts: list[tuple[str, str]] = []
        cache = work_dir(data_dir, other) / "generated.jsonl"
        if cache.exists():
            for line in cache.read_text(encoding="utf-8").splitlines():
                d = json.loads(line)
                texts.append((d["question"], d["lang"]))
        heads = heading_queries(load_passages(store, other), seed=config.seed)
        texts += [(t.question, t.lang) for t in heads]
        rng.shuffle(texts)
        # A question naming this project is probably answerable here: not a negative.
        picked = [t for t in texts if name not in t[0].lower()][: config.other_corpus_queries]
        out += [Query(q, lang, "other-corpus", None) for q, lang in picked]
    return out


def training_budget(config: RerankerTrainConfig, elapsed_s: float) -> float:
    """Seconds for the training loop: what the total budget leaves after `elapsed_s` and the
    calibration reserve, between MIN_TRAIN_S and the loop's own cap."""
    left = config.total_max_seconds - elapsed_s - CALIBRATION_RESERVE_S
    return min(config.train.max_seconds, max(MIN_TRAIN_S, left))


def _within_budget(groups: list[Group], max_pairs: int) -> list[Group]:
    """The first groups (already shuffled) up to `max_pairs` passages in total."""
    out, total = [], 0
    for g in groups:
        if total + len(g[1]) > max_pairs:
            break
        out.append(g)
        total += len(g[1])
    return out


def _first_rank(c: Candidates, order: np.ndarray) -> int | None:
    """1-based rank of the source file among the distinct files in `order`."""
    assert c.query.source is not None
    seen: list[str] = []
    for i in order:
        path = c.hits[i].path
        if path not in seen:
            seen.append(path)
            if path == c.query.source.path:
                return len(seen)
    return None


def _mrr(ranks: Sequence[int | None], k: int = 10) -> float:
    return float(np.mean([1.0 / r if r is not None and r <= k else 0.0 for r in ranks])) if ranks else 0.0


def evaluate(
    cands: Sequence[Candidates],
    feats: Sequence[np.ndarray],
    calibrator: dict[str, Any],
    threshold: float,
    strong: Sequence[np.ndarray | None] = (),
) -> dict[str, Any]:
    """Held-out metrics per language: file-level MRR@10 of the fused order, the raw
    cross-encoder, the calibrated score and the served order (the stronger bi-encoder where
    it ranks, else the calibrated score); refusal AUROC and P/R/F1 at the threshold."""
    out: dict[str, Any] = {}
    strong = strong or [None] * len(cands)
    for lang in ("en", "zh", "all"):
        orders = ("fused", "cross_encoder", "calibrated", "served")
        ranks: dict[str, list[int | None]] = {k: [] for k in orders}
        pos: list[float] = []
        neg: list[float] = []
        for c, f, st in zip(cands, feats, strong, strict=True):
            if lang != "all" and question_lang(c.query.text) != lang:
                continue
            w = calibrator.get(question_lang(c.query.text)) or calibrator["all"]
            probs = logistic(f, w)
            top = float(probs.max()) if len(probs) else 0.0
            if c.query.answerable:
                pos.append(top)
                ranks["fused"].append(_first_rank(c, np.arange(len(c.hits))))
                ranks["cross_encoder"].append(_first_rank(c, np.argsort(-f[:, 0], kind="stable")))
                ranks["calibrated"].append(_first_rank(c, np.argsort(-probs, kind="stable")))
                served = np.argsort(-(probs if st is None else st), kind="stable")
                ranks["served"].append(_first_rank(c, served))
            else:
                neg.append(top)
        p, r, f1 = prf(pos, neg, threshold)
        out[lang] = {
            "answerable": len(pos),
            "unanswerable": len(neg),
            **{f"mrr10_{k}": round(_mrr(v), 4) for k, v in ranks.items()},
            "refusal_auroc": round(auroc(pos, neg), 4),
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f1, 4),
        }
    return out


@dataclass(frozen=True)
class Calibration:
    calibrator: dict[str, Any]
    fit: ThresholdFit
    validation: dict[str, Any]
    n_pos: int
    n_neg: int


def calibrate(kept: Sequence[Candidates], pm: ProjectModel, *, target_precision: float) -> Calibration:
    """Fit the calibrator on the calib split and the refusal threshold on the test split.
    Sentence queries are training data only: copied verbatim from their passage, they would
    teach the calibrator that word overlap alone decides relevance."""
    held = [c for c in kept if c.query.split in ("calib", "test") and c.query.kind != "sentence"]
    feats = {id(c): pm.features(c.query.text, c.hits) for c in held}
    calib = [c for c in held if c.query.split == "calib"]
    test = [c for c in held if c.query.split == "test"]
    calibrator = fit_calibrator(calib, feats)
    test_feats = [feats[id(c)] for c in test]
    pos, neg = _top_scores(test, test_feats, calibrator)
    fit = fit_threshold(pos, neg, target_precision=target_precision)
    strong = [pm.strong_cos(pm.strong_query(c.query.text), c.hits) for c in test]
    validation = evaluate(test, test_feats, calibrator, fit.threshold, strong)
    return Calibration(calibrator, fit, validation, len(pos), len(neg))


def train_reranker(
    *,
    project: str,
    store: BaseStore,
    retriever: HybridRetriever,
    embedder: BaseEmbedder,
    data_dir: Path,
    complete: Complete | None = None,
    config: RerankerTrainConfig = RerankerTrainConfig(),
    log: Log = lambda msg: None,
) -> dict[str, Any]:
    """Train, calibrate and install the project's reranker. Returns the manifest."""
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    work = work_dir(data_dir, project)
    work.mkdir(parents=True, exist_ok=True)
    passages = load_passages(store, project)
    if not passages:
        raise ValueError(f"project {project!r} has no chunks; ingest it first")
    log(f"{len(passages)} passages")

    t = time.perf_counter()
    answerable, gen_info = answerable_queries(
        passages, config, complete=complete, cache_file=work / "generated.jsonl", log=log
    )
    refusal = refusal_queries(store, project, data_dir, config)
    timings["queries_s"] = time.perf_counter() - t

    t = time.perf_counter()
    rerank_free = lambda q: retriever.search(project, q, top_k=config.top_n, rerank=False)  # noqa: E731
    cands = retrieve(answerable + refusal, rerank_free)
    kept = [c for c in cands if round_trip(c, top_k=config.top_n)]
    timings["retrieve_s"] = time.perf_counter() - t
    log(f"queries: {len(answerable)} answerable, {len(refusal)} refusal; {len(kept)} kept after round trip")

    # Passage vectors first: they do not depend on the trained model, and their time is
    # what the training loop's budget must leave room for.
    t = time.perf_counter()
    texts = [pair_text(p.breadcrumb, p.title, p.text) for p in passages]
    sim = similarity_embedder(embedder)
    assert sim is not None
    vectors = sim.embed_documents(texts)
    timings["embed_s"] = time.perf_counter() - t
    strong, strong_spec, strong_vectors = _strong_vectors(passages, data_dir, config, log)
    if strong_spec.get("model"):
        timings["embed_strong_s"] = strong_spec.pop("seconds")

    base_path = base_model_path(config.base, data_dir)
    groups = _within_budget(training_groups(kept, passages, seed=config.seed), config.max_train_pairs)
    n_pairs = sum(len(g[1]) for g in groups)
    tmp_dir = work / "model.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    train_config = replace(config.train, max_seconds=training_budget(config, time.perf_counter() - t_start))
    log(
        f"training on {n_pairs} pairs in {len(groups)} query groups (budget {train_config.max_seconds:.0f} s)"
    )
    result = train_cross_encoder(
        groups,
        tmp_dir,
        config=train_config,
        base_path=base_path,
        on_step=lambda s, loss: log(f"step {s} loss {loss:.3f}") if s % 25 == 0 else None,
    )
    timings["train_s"] = result.seconds
    log(f"trained {result.steps} steps in {result.seconds:.0f} s ({result.pairs_per_s:.1f} pairs/s)")
    keys = np.array([p.key for p in passages])
    np.savez(tmp_dir / VECTORS, keys=keys, vectors=vectors)
    if strong_vectors is not None:
        np.savez(tmp_dir / STRONG_VECTORS, keys=strong_vectors[0], vectors=strong_vectors[1])

    manifest: dict[str, Any] = {
        "project": project,
        "base": config.base,
        "base_model": BASES[config.base],
        "max_length": config.train.max_length,
        "layers": config.train.keep_layers,
        "frozen_layers": config.train.freeze_layers,
        "serving": "dynamic int8 quantisation of Linear layers (torch), one thread",
        "embedder": sim.name,
        "features": list(FEATURES),
        "strong": strong_spec,
    }
    (tmp_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    t = time.perf_counter()
    pm = ProjectModel(tmp_dir, embedder=embedder, strong=strong)
    cal = calibrate(kept, pm, target_precision=config.target_precision)
    timings["score_heldout_s"] = time.perf_counter() - t
    fit = cal.fit
    log(f"threshold {fit.threshold:.3f}: precision {fit.precision:.3f} recall {fit.recall:.3f}")

    split_counts = Counter((c.query.split, "answerable" if c.query.answerable else "refusal") for c in kept)
    manifest.update(
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data={
            "passages": len(passages),
            "queries_by_kind": dict(Counter(q.kind for q in answerable + refusal)),
            "kept_by_kind": dict(Counter(c.query.kind for c in kept)),
            "queries_by_split": {f"{s}/{k}": n for (s, k), n in sorted(split_counts.items())},
            "train_pairs": n_pairs,
            "train_groups": len(groups),
            "train_positives": int(sum(sum(g[2]) for g in groups)),
            "generation": gen_info,
        },
        training={
            "seconds": round(result.seconds, 1),
            "pairs_per_s": round(result.pairs_per_s, 2),
            "steps": result.steps,
            "stopped_early": result.stopped_early,
            "final_loss": round(float(np.mean(result.losses[-20:])), 4) if result.losses else None,
            "config": asdict(train_config),
        },
        validation=cal.validation,
        threshold={
            "value": round(fit.threshold, 4),
            "estimated_precision": round(fit.precision, 4),
            "estimated_recall": round(fit.recall, 4),
            "f1": round(fit.f1, 4),
            "target_precision": fit.target_precision,
            "reached_target": fit.reached_target,
            "fitted_on": f"{cal.n_pos} answerable generated vs {cal.n_neg} off-topic held-out questions",
            "meaning": "answer when the best passage's probability >= value; REFUSAL_THRESHOLD overrides",
        },
        timings_s={k: round(v, 1) for k, v in {**timings, "total_s": time.perf_counter() - t_start}.items()},
    )
    (tmp_dir / CALIBRATOR).write_text(json.dumps(cal.calibrator, indent=1), encoding="utf-8")
    (tmp_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    _install(tmp_dir, model_dir(data_dir, project))
    return manifest


def _strong_vectors(
    passages: Sequence[Passage], data_dir: Path, config: RerankerTrainConfig, log: Log
) -> tuple[BaseEmbedder | None, dict[str, Any], tuple[np.ndarray, np.ndarray] | None]:
    """Vectors of the English passages from the stronger bi-encoder that orders English
    questions at serving time (keys, vectors). Its cost is here, once per passage, so a query
    pays one question embedding."""
    if not config.strong:
        return None, {"model": None, "note": "disabled"}, None
    t = time.perf_counter()
    model = mpnet.load_if_installed(data_dir)
    if model is None:
        note = f"{mpnet.NAME} not installed ({mpnet.install_command()}); English keeps the calibrated order"
        log(note)
        return None, {"model": None, "note": note}, None
    readable = [p for p in passages if p.lang in STRONG_LANGS or not p.lang]
    if not readable:
        note = f"no passages in {'/'.join(STRONG_LANGS)}; every question keeps the calibrated order"
        log(note)
        return None, {"model": None, "note": note}, None
    log(f"embedding {len(readable)} of {len(passages)} passages with {mpnet.NAME} (~1.5/s on 2 cores)")
    vectors = model.embed_documents([pair_text(p.breadcrumb, p.title, p.text) for p in readable])
    keys = np.array([p.key for p in readable])
    spec = {"model": mpnet.NAME, "langs": list(STRONG_LANGS), "passages": len(readable)}
    return model, {**spec, "seconds": time.perf_counter() - t}, (keys, vectors)


def _top_scores(
    cands: Sequence[Candidates], feats: Sequence[np.ndarray], calibrator: dict[str, Any]
) -> tuple[list[float], list[float]]:
    pos, neg = [], []
    for c, f in zip(cands, feats, strict=True):
        w = calibrator.get(question_lang(c.query.text)) or calibrator["all"]
        top = float(logistic(f, w).max()) if len(f) else 0.0
        (pos if c.query.answerable else neg).append(top)
    return pos, neg


def fit_calibrator(cands: Sequence[Candidates], feats: dict[int, np.ndarray]) -> dict[str, Any]:
    """One logistic model per query language (and a pooled one as fallback), fitted on
    labelled candidates of the calibration split."""
    rows: dict[str, list[np.ndarray]] = {"en": [], "zh": [], "all": []}
    ys: dict[str, list[float]] = {"en": [], "zh": [], "all": []}
    for c in cands:
        f = feats[id(c)]
        lang = question_lang(c.query.text)
        for i, label in enumerate(c.labels):
            if label is None:
                continue
            for group in (lang, "all"):
                rows[group].append(f[i])
                ys[group].append(float(label))
    out: dict[str, Any] = {"features": list(FEATURES)}
    for group in ("all", "en", "zh"):
        y = np.asarray(ys[group])
        if len(y) and y.sum() >= 10 and (1 - y).sum() >= 10:
            out[group] = fit_logistic(np.vstack(rows[group]), y)
            out[group]["n"] = len(y)
            out[group]["positives"] = int(y.sum())
    if "all" not in out:
        # Too little held-out data to fit anything: trust the cross-encoder's logit as is.
        out["all"] = {"w": [1.0, 0.0, 0.0, 0.0], "b": 0.0, "n": 0, "positives": 0}
    return out


def _install(tmp_dir: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp_dir.rename(target)
    shutil.rmtree(old, ignore_errors=True)
