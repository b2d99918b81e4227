"""Retrieval metrics by gold path. A ranking is the list of hit paths, best first; a path
that repeats (several chunks of one file) counts once, at its first rank."""

from __future__ import annotations

import math
from collections.abc import Sequence


def dedupe(paths: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def first_gold_rank(paths: Sequence[str], gold: set[str]) -> int | None:
    """1-based rank of the first gold path, or None."""
    for rank, p in enumerate(dedupe(paths), start=1):
        if p in gold:
            return rank
    return None


def recall_at(paths: Sequence[str], gold: set[str], k: int) -> float:
    """1 if any gold path is in the top k distinct paths (the questions need one gold file)."""
    rank = first_gold_rank(paths, gold)
    return 1.0 if rank is not None and rank <= k else 0.0


def mrr_at(paths: Sequence[str], gold: set[str], k: int = 10) -> float:
    rank = first_gold_rank(paths, gold)
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def ndcg_at(paths: Sequence[str], gold: set[str], k: int = 10) -> float:
    ranked = dedupe(paths)[:k]
    dcg = sum(1.0 / math.log2(i + 2) for i, p in enumerate(ranked) if p in gold)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[idx]
