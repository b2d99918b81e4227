"""What each refusal threshold would do on a real question set, without calling the model.

Scores every question the way `/ask` decides (same retrieval, same confidence) and prints,
per threshold and language, the share of answerable questions that pass the gate and of
unanswerable ones that are refused, plus the AUROC of the confidence value.

    OSSQA_DATA_DIR=/tmp/d python -m eval.refusal_sweep --project pydantic \
        --questions ../shared/eval/pydantic/questions.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.retrieval import load_questions
from retrieval.rerank.training.calibrate import auroc
from service.answer import RETRIEVE_K, Answerer
from service.confidence import ConfidenceScorer
from service.container import Components, build_components
from service.settings import Settings

THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def sweep_table(title: str, scored: list[tuple[str, bool, float]]) -> str:
    """`scored` = (lang, answerable, confidence) per question."""
    header = "| threshold | slice | answerable passed | unanswerable refused |"
    lines = [f"### {title}", "", header, "|---|---|---|---|"]
    slices = ["all"] + sorted({lang for lang, _, _ in scored})
    for t in THRESHOLDS:
        for s in slices:
            rows = [r for r in scored if s in ("all", r[0])]
            pos = [v for _, a, v in rows if a]
            neg = [v for _, a, v in rows if not a]
            passed = sum(v >= t for v in pos)
            refused = sum(v < t for v in neg)
            lines.append(
                f"| {t:.2f} | {s} | {passed / max(len(pos), 1):.0%} ({passed}/{len(pos)}) "
                f"| {refused / max(len(neg), 1):.0%} ({refused}/{len(neg)}) |"
            )
    for s in slices:
        rows = [r for r in scored if s in ("all", r[0])]
        value = auroc([v for _, a, v in rows if a], [v for _, a, v in rows if not a])
        lines.append(f"\nAUROC ({s}): {value:.3f}")
    return "\n".join(lines) + "\n"


def gate_scorer(comps: Components, settings: Settings) -> ConfidenceScorer:
    """The scorer /ask builds, from the same settings (no model: it is never called here)."""
    return Answerer(
        comps.retriever,
        None,
        refusal_threshold=settings.refusal_threshold,
        refusal_signal=settings.refusal_signal,
    ).scorer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    settings = Settings()
    comps = build_components(settings)
    try:
        scorer = gate_scorer(comps, settings)
        scored = []
        for q in load_questions(args.questions):
            hits = comps.retriever.search(args.project, q.question, top_k=RETRIEVE_K)
            scored.append((q.lang, q.answerable, scorer.score(args.project, q.question, hits).value))
    finally:
        comps.close()
    table = sweep_table(f"{args.project}: refusal gate ({settings.refusal_signal})", scored)
    print(table)
    out = args.out or Path("eval/results") / f"refusal-{args.project}.md"
    out.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
