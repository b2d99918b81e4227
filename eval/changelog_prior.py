"""What the changelog prior (retrieval/priors.py) changes on our hand-written FastAPI sets:
how often a changelog page is among the 3 prompt passages, and what the refusal gate does,
with the prior off and on. No model call.

    OSSQA_DATA_DIR=/tmp/fa python -m eval.changelog_prior --project fastapi
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from eval.calibrate_refusal import load_lines
from eval.refusal_sweep import gate_scorer
from retrieval.priors import is_changelog
from retrieval.rerank.training.calibrate import auroc
from service.answer import RETRIEVE_K
from service.container import build_components
from service.settings import Settings

SETS = {
    "answerable": "fastapi_questions.txt",
    "near-topic": "fastapi_neartopic_questions.txt",
    "off-topic": "offtopic_questions.txt",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", default="fastapi")
    ap.add_argument("--places", type=int, default=Settings().changelog_demotion)
    args = ap.parse_args()
    settings = Settings()
    comps = build_components(settings)
    scorer = gate_scorer(comps, settings)
    threshold = scorer.describe(args.project).get("threshold")
    base = comps.retriever.params
    print("| prior | set | n | a changelog among the 3 prompt passages | passed the refusal gate |")
    print("|---|---|---|---|---|")
    try:
        for places in (0, args.places):
            comps.retriever.params = replace(base, changelog_demotion=places)
            values: dict[str, list[float]] = {}
            for name, file in SETS.items():
                questions = load_lines(file)
                changelog = 0
                values[name] = []
                for q in questions:
                    hits = comps.retriever.search(args.project, q, top_k=RETRIEVE_K)
                    changelog += any(is_changelog(h.path) for h in hits[:3])
                    confidence = scorer.score(args.project, q, hits)
                    values[name].append(confidence.value - confidence.threshold)
                passed = sum(v >= 0 for v in values[name])
                print(f"| {places} places | {name} | {len(questions)} | {changelog} | {passed} |")
            for neg in ("near-topic", "off-topic"):
                value = auroc(values["answerable"], values[neg])
                print(f"\nAUROC answerable vs {neg}, prior {places}: {value:.3f} (threshold {threshold})")
    finally:
        comps.close()


if __name__ == "__main__":
    main()
