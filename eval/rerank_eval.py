"""Does the fine-tuned reranker help? Measured through `POST /search` in-process.

For each question set: MRR@10 and recall@5 by gold path for
  fine-tuned   the project's trained reranker as served (English questions ordered by the
               stronger bi-encoder when training stored its vectors, else the calibrated
               probability)
  calibrated   the same model ordered by its calibrated probability only
  no-rerank    the same request with `rerank: false` (fused order)
  ce-only      the fine-tuned cross-encoder's own logit, without the calibrator features
  base-ce      the same cross-encoder (same layers, same head init) before fine-tuning
and refusal over answerable vs unanswerable items from the best hit's probability: AUROC,
and precision / recall / F1 at the threshold fitted at training time. Per language.

    EMBEDDING_MODEL=use-multilingual python -m eval.rerank_eval --data-dir /tmp/h4data \\
        --project pydantic --questions ../shared/eval/pydantic/questions.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from eval.metrics import mrr_at, recall_at  # noqa: E402
from eval.retrieval import Question, load_questions  # noqa: E402
from retrieval.rerank.training.calibrate import auroc, prf  # noqa: E402


def base_model_folder(trained: Path, into: Path, data_dir: Path) -> Path:
    """The cross-encoder as it was before fine-tuning: its base (MiniLM or e5) cut to the same
    layers, with the same seeded new head, and no calibrator (its probability is sigmoid(logit))."""
    import torch

    from retrieval.rerank.cross_encoder import MANIFEST
    from retrieval.rerank.training.train import base_model_path, load_model

    manifest = json.loads((trained / MANIFEST).read_text(encoding="utf-8"))
    torch.manual_seed(0)  # train_cross_encoder seeds the head the same way
    base = base_model_path(manifest.get("base", "minilm"), data_dir)
    model, tok = load_model(base, keep_layers=int(manifest.get("layers", 6)))
    into.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(into))
    tok.save_pretrained(str(into))  # type: ignore[attr-defined]
    (into / MANIFEST).write_text(
        json.dumps({"max_length": manifest.get("max_length", 128)}), encoding="utf-8"
    )
    return into


def calibrated_folder(trained: Path, into: Path) -> Path:
    """The trained model without the stronger bi-encoder: ordered by its probability."""
    from retrieval.rerank.cross_encoder import MANIFEST

    shutil.copytree(trained, into)
    manifest = json.loads((into / MANIFEST).read_text(encoding="utf-8"))
    manifest.pop("strong", None)
    (into / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return into


def ce_only_folder(trained: Path, into: Path) -> Path:
    """The fine-tuned cross-encoder with the calibrator replaced by its raw logit."""
    from retrieval.rerank.cross_encoder import CALIBRATOR

    calibrated_folder(trained, into)
    (into / CALIBRATOR).write_text(
        json.dumps({"all": {"w": [1.0, 0.0, 0.0, 0.0], "b": 0.0}}), encoding="utf-8"
    )
    return into


def _slices(q: Question) -> list[str]:
    return ["all", q.lang]


def run(data_dir: Path, project: str, questions: list[Question], top_k: int = 10) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from retrieval.rerank.cross_encoder import CrossEncoderReranker, model_dir
    from service.container import build_components
    from service.main import create_app
    from service.settings import Settings

    settings = Settings(ossqa_data_dir=data_dir, rate_limit_per_min=0)
    components = build_components(settings)
    trained = model_dir(data_dir, project)
    fine_tuned = components.retriever.reranker
    assert isinstance(fine_tuned, CrossEncoderReranker) and fine_tuned.model(project) is not None
    threshold = fine_tuned.threshold(project)
    tmp = Path(tempfile.mkdtemp(prefix="rerank-eval-"))
    variants = {
        "fine-tuned": (fine_tuned, True),
        "calibrated": (None, True),
        "no-rerank": (fine_tuned, False),
        "ce-only": (None, True),
        "base-ce": (None, True),
    }
    base_ce_dir = tmp / "base" / "models" / project / "reranker"
    ce_only_dir = tmp / "ce" / "models" / project / "reranker"
    base_model_folder(trained, base_ce_dir, data_dir)
    ce_only_folder(trained, ce_only_dir)
    calibrated_folder(trained, tmp / "cal" / "models" / project / "reranker")
    rerankers = {
        "calibrated": CrossEncoderReranker(data_dir=tmp / "cal", embedder=components.embedder),
        "ce-only": CrossEncoderReranker(data_dir=tmp / "ce", embedder=components.embedder),
        "base-ce": CrossEncoderReranker(data_dir=tmp / "base", embedder=components.embedder),
    }
    results: dict[str, Any] = {"project": project, "threshold": threshold, "variants": {}}
    with TestClient(create_app(settings, components=components)) as client:
        for name, (reranker, rerank) in variants.items():
            components.retriever.reranker = reranker or rerankers[name]
            per: dict[str, dict[str, list[float]]] = {}
            for q in questions:
                body = {"project": project, "query": q.question, "top_k": top_k, "rerank": rerank}
                r = client.post("/search", json=body)
                r.raise_for_status()
                hits = r.json()["hits"]
                paths = [h["path"] for h in hits]
                top = max((h["score"] for h in hits), default=0.0)
                for s in _slices(q):
                    d = per.setdefault(s, {"mrr": [], "r5": [], "pos": [], "neg": []})
                    if q.answerable:
                        d["mrr"].append(mrr_at(paths, set(q.gold), 10))
                        d["r5"].append(recall_at(paths, set(q.gold), 5))
                        d["pos"].append(top)
                    else:
                        d["neg"].append(top)
            rows = {}
            for s, d in per.items():
                row = {
                    "n_answerable": len(d["mrr"]),
                    "n_unanswerable": len(d["neg"]),
                    "mrr10": round(sum(d["mrr"]) / max(1, len(d["mrr"])), 4),
                    "recall5": round(sum(d["r5"]) / max(1, len(d["r5"])), 4),
                }
                if rerank:
                    row["refusal_auroc"] = round(auroc(d["pos"], d["neg"]), 4)
                if name == "fine-tuned" and threshold is not None:
                    p, rc, f1 = prf(d["pos"], d["neg"], threshold)
                    row.update(precision=round(p, 4), recall=round(rc, 4), f1=round(f1, 4))
                rows[s] = row
            results["variants"][name] = rows
            print(name, json.dumps(rows), flush=True)
        components.retriever.reranker = fine_tuned
    components.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return results


def to_markdown(res: dict[str, Any]) -> str:
    lines = [
        f"### {res['project']} (threshold {res['threshold']})",
        "",
        "| variant | slice | MRR@10 | recall@5 | refusal AUROC | P | R | F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in res["variants"].items():
        for s, r in sorted(rows.items()):
            lines.append(
                f"| {name} | {s} (n={r['n_answerable']}+{r['n_unanswerable']}) "
                f"| {r['mrr10']} | {r['recall5']} "
                f"| {r.get('refusal_auroc', '')} | {r.get('precision', '')} | {r.get('recall', '')} "
                f"| {r.get('f1', '')} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=None, help="append a markdown table here")
    args = ap.parse_args(argv)
    res = run(args.data_dir, args.project, load_questions(args.questions))
    md = to_markdown(res)
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a", encoding="utf-8") as f:
            f.write(md + "\n")
        args.out.with_suffix(f".{args.project}.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
