"""Calibration maths: a small logistic model (numpy, Newton steps) mapping features to a
probability, and the refusal threshold fitted to a target precision. Plain functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iters: int = 50) -> dict[str, object]:
    """L2-regularised logistic regression (intercept not penalised). Returns {"w", "b"}."""
    n, d = x.shape
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    xs = np.column_stack([(x - mu) / sd, np.ones(n)])
    beta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xs @ beta, -50, 50)))
        grad = xs.T @ (p - y) + reg * beta
        hess = (xs * (p * (1 - p))[:, None]).T @ xs + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    # Fold the standardisation back in so serving needs only w and b.
    w = beta[:d] / sd
    b = beta[d] - float((beta[:d] * mu / sd).sum())
    return {"w": w.tolist(), "b": float(b)}


def auroc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    if not pos or not neg:
        return float("nan")
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


@dataclass(frozen=True)
class ThresholdFit:
    threshold: float
    precision: float
    recall: float
    f1: float
    target_precision: float
    reached_target: bool


def prf(pos: Sequence[float], neg: Sequence[float], t: float) -> tuple[float, float, float]:
    """Precision, recall, F1 of "answer when score >= t" (answerable = positive class)."""
    tp = sum(s >= t for s in pos)
    fp = sum(s >= t for s in neg)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / len(pos) if pos else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def fit_threshold(
    pos: Sequence[float], neg: Sequence[float], *, target_precision: float = 0.9
) -> ThresholdFit:
    """The lowest threshold whose precision reaches the target (so recall is highest).
    When no threshold reaches it, the one with the best F1."""
    candidates = sorted({*pos, *neg})
    best_f1: tuple[float, float] | None = None
    for t in candidates:
        precision, recall, f1 = prf(pos, neg, t)
        if precision >= target_precision and recall > 0:
            return ThresholdFit(float(t), precision, recall, f1, target_precision, True)
        if best_f1 is None or f1 > best_f1[1]:
            best_f1 = (t, f1)
    t = best_f1[0] if best_f1 else 0.5
    precision, recall, f1 = prf(pos, neg, t)
    return ThresholdFit(float(t), precision, recall, f1, target_precision, False)
