"""Retrieval evaluation: recall@1/5/10, MRR@10, nDCG@10 by gold path, overall and per
language, with p50/p95 latency, for each system (our three modes and two baselines).

Hits are scored in the order the system returns them (top k hits, paths deduplicated
within those k), which is how `POST /search` results are judged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eval.metrics import mrr_at, ndcg_at, percentile, recall_at

SearchFn = Callable[[str], list[str]]  # question -> ranked paths


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    lang: str
    gold: frozenset[str]

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def load_questions(path: Path) -> list[Question]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            gold = frozenset(rec.get("gold_paths") or [])
            out.append(Question(rec["id"], rec["question"], rec.get("lang", "en"), gold))
    return out


@dataclass
class SystemResult:
    name: str
    rows: dict[str, dict[str, float]] = field(default_factory=dict)  # slice -> metric -> value
    latencies_ms: list[float] = field(default_factory=list)
    per_question: dict[str, list[str]] = field(default_factory=dict)


def evaluate(name: str, search: SearchFn, questions: list[Question]) -> SystemResult:
    result = SystemResult(name)
    scored: dict[str, list[dict[str, float]]] = {"all": []}
    for q in questions:
        if not q.answerable:
            continue
        t0 = time.perf_counter()
        paths = search(q.question)
        result.latencies_ms.append((time.perf_counter() - t0) * 1e3)
        result.per_question[q.id] = paths[:10]
        gold = set(q.gold)
        m = {
            "R@1": recall_at(paths[:1], gold, 1),
            "R@5": recall_at(paths[:5], gold, 5),
            "R@10": recall_at(paths[:10], gold, 10),
            "MRR@10": mrr_at(paths[:10], gold, 10),
            "nDCG@10": ndcg_at(paths[:10], gold, 10),
        }
        scored["all"].append(m)
        scored.setdefault(q.lang, []).append(m)
    for slice_name, items in scored.items():
        row = {k: sum(m[k] for m in items) / len(items) for k in items[0]} if items else {}
        row["n"] = len(items)
        result.rows[slice_name] = row
    return result


def markdown_table(title: str, results: list[SystemResult]) -> str:
    metrics = ["R@1", "R@5", "R@10", "MRR@10", "nDCG@10"]
    slices = [s for s in ("all", "en", "zh") if any(s in r.rows for r in results)]
    lines = [f"### {title}", "", "| system | slice | n | " + " | ".join(metrics) + " | p50 ms | p95 ms |"]
    lines.append("|" + "---|" * (len(metrics) + 5))
    for r in results:
        for s in slices:
            if s not in r.rows:
                continue
            row = r.rows[s]
            vals = " | ".join(f"{row.get(m, 0):.3f}" for m in metrics)
            p50, p95 = percentile(r.latencies_ms, 50), percentile(r.latencies_ms, 95)
            lat = f"{p50:.1f} | {p95:.1f}" if s == "all" else " | "
            lines.append(f"| {r.name} | {s} | {int(row['n'])} | {vals} | {lat} |")
    return "\n".join(lines) + "\n"
