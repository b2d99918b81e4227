"""Reranker speed: latency of reranking 20 and 50 fused candidates (p50/p95) for the
served configuration (int8, one thread, the cross-encoder scoring the top CE_TOP_N candidates
of questions the stronger bi-encoder orders) against the cross-encoder scoring all of them and
against fp32, the stronger bi-encoder's question
embedding inside it, and training throughput (pairs/s) from a short run of the training
loop plus the project's recorded training time.

    EMBEDDING_MODEL=use-multilingual python -m eval.bench_rerank --data-dir /tmp/h4data --project pydantic

Queries come from the project's own section headings (no eval questions needed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from eval.metrics import percentile  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--train-pairs", type=int, default=64, help="pairs for the throughput run (0 = skip)")
    args = ap.parse_args(argv)

    import torch

    from retrieval.rerank.cross_encoder import CE_TOP_N, CrossEncoderReranker, ProjectModel, model_dir
    from retrieval.rerank.training.passages import load_passages, pair_text
    from retrieval.rerank.training.queries import heading_queries
    from retrieval.rerank.training.train import TrainConfig, train_cross_encoder
    from retrieval.tokenize import question_lang
    from service.container import build_components
    from service.settings import Settings

    settings = Settings(ossqa_data_dir=args.data_dir)
    components = build_components(settings)
    folder = model_dir(args.data_dir, args.project)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    passages = load_passages(components.store, args.project)
    rng = random.Random(0)
    queries = [q.question for q in heading_queries(passages)]
    rng.shuffle(queries)
    queries = queries[: args.queries]
    candidates = {
        n: [components.retriever.search(args.project, q, top_k=n, rerank=False) for q in queries]
        for n in (20, 50)
    }
    out: dict[str, object] = {
        "project": args.project,
        "recorded_training": manifest.get("training"),
        "recorded_timings_s": manifest.get("timings_s"),
        "load_avg": os.getloadavg(),
    }
    torch.set_num_threads(1)
    configs = (("int8", True, CE_TOP_N), ("int8-all-pairs", True, None), ("fp32", False, CE_TOP_N))
    # One untimed pass first: tokenised passages are cached process-wide (jieba is slow), and
    # the first configuration would otherwise pay for every configuration after it.
    warm = CrossEncoderReranker(data_dir=args.data_dir, embedder=components.embedder, ce_top_n=None)
    for q, hits in zip(queries, candidates[50], strict=True):
        warm.rerank(q, hits, project=args.project)
    for label, quantize, ce_top_n in configs:
        reranker = CrossEncoderReranker(
            data_dir=args.data_dir, embedder=components.embedder, quantize=quantize, ce_top_n=ce_top_n
        )
        reranker.model(args.project)  # load outside the timing
        for n, lists in candidates.items():
            times = []
            reranker.rerank(queries[0], lists[0], project=args.project)  # warm-up
            for q, hits in zip(queries, lists, strict=True):
                t0 = time.perf_counter()
                reranker.rerank(q, hits, project=args.project)
                times.append((time.perf_counter() - t0) * 1e3)
            out[f"{label}_rerank{n}_ms"] = {
                "p50": round(percentile(times, 50), 1),
                "p95": round(percentile(times, 95), 1),
            }
            print(label, n, out[f"{label}_rerank{n}_ms"], flush=True)
    served = reranker.model(args.project)  # the fp32 one; the stronger bi-encoder is not quantised
    if served is not None and served.strong is not None:
        # The stronger bi-encoder's share of the above: one question embedding (English only).
        english = [q for q in queries if question_lang(q) in served.strong_langs] or ["How do I use it?"]
        times = []
        for q in english:
            t0 = time.perf_counter()
            served.strong.embedder.embed_query(q)
            times.append((time.perf_counter() - t0) * 1e3)
        p50, p95 = percentile(times, 50), percentile(times, 95)
        out["strong_query_ms"] = {"p50": round(p50, 1), "p95": round(p95, 1)}
        print("strong question embedding", out["strong_query_ms"], flush=True)
    if args.train_pairs:
        pm = ProjectModel(folder, embedder=None)
        texts = [pair_text(p.breadcrumb, p.title, p.text) for p in passages]
        pairs = [
            (queries[i % len(queries)], rng.choice(texts), float(i % 2)) for i in range(args.train_pairs)
        ]
        cfg = TrainConfig(max_length=pm.max_length, keep_layers=int(manifest.get("layers", 4)))
        with tempfile.TemporaryDirectory() as tmp:
            res = train_cross_encoder(pairs, Path(tmp), config=cfg)
        out["train_pairs_per_s"] = round(res.pairs_per_s, 2)
        print("train pairs/s", out["train_pairs_per_s"], flush=True)
    components.close()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
