"""Fit the refusal fallback (service/confidence.py) on our own data, never the eval sets.

Answerable questions are generated from a corpus's chunks (templates over a chunk's title and
words of one of its sentences); unanswerable ones are hand-written (eval/data/offtopic_questions.txt).
The default corpus is FastAPI, which no eval set uses.

    OSSQA_DATA_DIR=/tmp/cal ossqa ingest fastapi ../shared/corpora/fastapi
    OSSQA_DATA_DIR=/tmp/cal python -m eval.calibrate_refusal --project fastapi

Prints the fitted weights (copy them into FALLBACK_WEIGHTS) and the threshold table, and writes
eval/results/refusal_calibration.md. For FastAPI it also reports how many hand-written near-topic
questions are refused (eval/data/fastapi_neartopic_questions.txt: FastAPI bug reports, neighbouring
frameworks); they are held out of the fit, because fitted on them the blend only refused more
answerable questions (eval/results/refusal_calibration_neartopic.md, session 12).

Questions with no term the blend can judge (Chinese questions about an English-only corpus) are
decided on similarity alone (COS_ONLY_WEIGHTS); fit those on the English FastAPI docs:

    OSSQA_DATA_DIR=/tmp/cal ossqa ingest fastapi-en ../shared/corpora/fastapi/docs/en
    OSSQA_DATA_DIR=/tmp/cal python -m eval.calibrate_refusal --project fastapi-en --cos-only
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

import numpy as np

from retrieval.tokenize import STOPWORDS, has_cjk
from service.confidence import fallback_features
from service.container import build_components
from service.settings import Settings

HERE = Path(__file__).parent
_EN_TEMPLATES = [
    "How do I {a} {b} in {project}?",
    "What happens with {a} when I use {b} and {c}?",
    "Is there a way to configure {a} {b}?",
    "Can you explain how {a} works together with {b}?",
]
_TITLE_TEMPLATES = [
    "How do I use {t}?",
    "What is {t} for?",
    "Can you tell me about {t}?",
    "Where can I read about {t}?",
]
_ZH_TEMPLATES = ["如何使用{t}？", "{t}是怎么工作的？", "关于{t}，文档里怎么说？"]


def _words(sentence: str) -> list[str]:
    return [
        w
        for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", sentence)
        if w.lower() not in STOPWORDS and not w.lower().startswith("http")
    ]


def generate_answerable(payloads: list[dict], n: int, project: str, rng: random.Random) -> list[str]:
    rng.shuffle(payloads)
    out: list[str] = []
    for p in payloads:
        text, title = str(p.get("text", "")), str(p.get("title", ""))
        if len(text) < 300:
            continue
        if has_cjk(text) and has_cjk(title):
            out.append(rng.choice(_ZH_TEMPLATES).format(t=title.strip("# ")))
        elif rng.random() < 0.5 and len(_words(title)) >= 1:
            out.append(rng.choice(_TITLE_TEMPLATES).format(t=title.strip("# ").lower()))
        else:
            sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if len(_words(s)) >= 3]
            if not sentences:
                continue
            words = _words(rng.choice(sentences))
            rng.shuffle(words)
            a, b, c = (words + [title] * 3)[:3]
            out.append(rng.choice(_EN_TEMPLATES).format(a=a, b=b, c=c, project=project))
        if len(out) == n:
            break
    return out


def load_lines(name: str) -> list[str]:
    lines = (HERE / "data" / name).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", default="fastapi")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cos-only", action="store_true", help="fit COS_ONLY_WEIGHTS instead")
    args = ap.parse_args()
    name = "refusal_calibration_cos_only.md" if args.cos_only else "refusal_calibration.md"
    args.out = args.out or HERE / "results" / name
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from service.confidence import TermStats

    comps = build_components(Settings())
    try:
        rng = random.Random(args.seed)
        # The store scrolls in no fixed order: sorted first, the same seed draws the same questions.
        payloads = sorted(
            comps.store.payloads(args.project), key=lambda p: (str(p.get("path", "")), str(p.get("text", "")))
        )
        fastapi = args.project.startswith("fastapi")  # the only corpus with hand-written questions
        written = load_lines("fastapi_questions.txt") if fastapi else []
        pos = generate_answerable(payloads, args.n, args.project, rng) + written
        offtopic = load_lines("offtopic_questions.txt")
        # Near-topic questions share the corpus's words.
        near = load_lines("fastapi_neartopic_questions.txt") if fastapi else []
        neg = offtopic + near
        near_set = set(near)
        stats = TermStats(comps.store)
        hand_written = set(written)
        rows = []  # (label, cos, cover, oov, oov_plain, lexical, hand-written answerable, near-topic)
        for label, questions in ((1, pos), (0, neg)):
            for q in questions:
                hits = comps.retriever.search(args.project, q, top_k=8)
                f = fallback_features(q, hits, comps.embedder, stats, args.project)
                hand = bool(label) and q in hand_written
                rows.append((label, f.cos, f.cover, f.oov, f.oov_plain, f.lexical, hand, q in near_set))
    finally:
        comps.close()
    if args.cos_only:
        fit_cos_only([r for r in rows if not r[5]], args.out)
        return
    rows = [r for r in rows if r[5]]  # the others are decided by COS_ONLY_WEIGHTS
    # Near-topic questions are held out of the fit: the features cannot tell them from answerable
    # ones (fitted on them, the blend only refuses more answerable questions; tried.md), so they
    # measure what the blend misses instead.
    near_rows = np.array([bool(r[7]) for r in rows])
    fit_rows = ~near_rows
    y = np.array([r[0] for r in rows])
    x = np.array([r[1:5] for r in rows])
    all_names = ["cos", "cover", "oov", "oov_plain"]
    names = list(all_names)
    model = LogisticRegression(C=10.0, class_weight="balanced").fit(x[fit_rows], y[fit_rows])
    if model.coef_[0][0] < 0:
        # A higher similarity never means "less answerable": drop cos rather than learn noise.
        names = all_names[1:]
        model = LogisticRegression(C=10.0, class_weight="balanced").fit(x[fit_rows][:, 1:], y[fit_rows])
    cols = [all_names.index(n) for n in names]
    prob = model.predict_proba(x[:, cols])[:, 1]

    def auc(score: np.ndarray) -> float:
        return float(roc_auc_score(y[fit_rows], score[fit_rows]))

    near_pair = (y == 1) | near_rows
    near_auc = float(roc_auc_score(y[near_pair], prob[near_pair])) if near_rows.any() else float("nan")
    weights = {"bias": float(model.intercept_[0]), "cos": 0.0}
    weights.update(dict(zip(names, (float(w) for w in model.coef_[0]), strict=True)))
    lines = [
        f"# Refusal fallback calibration ({args.project}: {len(pos) - len(written)} generated and "
        f"{len(written)} hand-written answerable, {len(offtopic)} hand-written off-topic, {len(near)} "
        f"hand-written near-topic (held out of the fit); {len(rows)} with "
        "a judged term)",
        "",
        f"AUC (fitted rows): blend {auc(prob):.3f}; cos alone {auc(x[:, 0]):.3f}; "
        f"cover alone {auc(x[:, 1]):.3f}; -oov alone {auc(-x[:, 2]):.3f}; "
        f"-oov_plain alone {auc(-x[:, 3]):.3f}",
        f"AUC, answerable vs near-topic only: blend {near_auc:.3f}",
        "",
        "weights: " + ", ".join(f"{k}={v:.2f}" for k, v in weights.items()),
        "",
        "| threshold | answerable kept | hand-written answerable kept | off-topic refused "
        "| near-topic refused |",
        "|---|---|---|---|---|",
    ]
    # Taken from the rows themselves: the filter above moved the positions.
    hand = np.array([bool(r[6]) for r in rows])
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        kept = float(np.mean(prob[y == 1] >= t))
        kept_hand = float(np.mean(prob[hand] >= t)) if hand.any() else float("nan")
        refused = float(np.mean(prob[(y == 0) & ~near_rows] < t))
        refused_near = float(np.mean(prob[near_rows] < t)) if near_rows.any() else float("nan")
        lines.append(f"| {t:.1f} | {kept:.1%} | {kept_hand:.1%} | {refused:.1%} | {refused_near:.1%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


def fit_cos_only(rows: list[tuple], out: Path) -> None:
    """Similarity alone, for questions with no judged term. Few, nearly separable points: a
    weakly regularised fit keeps the slope steep enough to refuse the dissimilar ones."""
    from sklearn.linear_model import LogisticRegression

    y = np.array([r[0] for r in rows])
    cos = np.array([[r[1]] for r in rows])
    model = LogisticRegression(C=100.0, class_weight="balanced").fit(cos, y)
    bias, w = float(model.intercept_[0]), float(model.coef_[0][0])
    prob = model.predict_proba(cos)[:, 1]
    lines = [
        f"# Refusal on similarity alone ({int(y.sum())} answerable, {int((1 - y).sum())} off-topic "
        "questions with no judged term)",
        "",
        f'COS_ONLY_WEIGHTS = {{"bias": {bias:.2f}, "cos": {w:.2f}}}',
        "",
        f"answerable cos: {', '.join(f'{c:.2f}' for c in sorted(cos[y == 1, 0]))}",
        f"off-topic cos: {', '.join(f'{c:.2f}' for c in sorted(cos[y == 0, 0]))}",
        "",
        "| threshold | answerable kept | off-topic refused |",
        "|---|---|---|",
    ]
    for t in (0.1, 0.2, 0.3, 0.4, 0.5):
        lines.append(f"| {t:.1f} | {np.mean(prob[y == 1] >= t):.1%} | {np.mean(prob[y == 0] < t):.1%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
