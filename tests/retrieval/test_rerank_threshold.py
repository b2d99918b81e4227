"""Calibration maths: threshold fitting, AUROC and the logistic calibrator, checked against
hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.rerank.features import logistic
from retrieval.rerank.training.calibrate import auroc, fit_logistic, fit_threshold, prf


def test_prf_counts_answers_at_or_above_the_threshold() -> None:
    pos, neg = [0.9, 0.8, 0.4], [0.85, 0.2]
    # t=0.8: answers 0.9, 0.8 (tp=2) and 0.85 (fp=1); one answerable item missed.
    assert prf(pos, neg, 0.8) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_threshold_is_the_lowest_reaching_the_target_precision() -> None:
    pos = [0.95, 0.9, 0.8, 0.7, 0.3]
    neg = [0.85, 0.5, 0.1]
    fit = fit_threshold(pos, neg, target_precision=0.8)
    # t=0.7: tp=4, fp=1 -> precision 0.8, recall 0.8; any lower t admits 0.5 (precision 4/6).
    assert fit.threshold == 0.7 and fit.reached_target
    assert (fit.precision, fit.recall) == pytest.approx((0.8, 0.8))
    strict = fit_threshold(pos, neg, target_precision=1.0)
    assert strict.threshold == 0.9 and strict.precision == 1.0 and strict.recall == pytest.approx(0.4)


def test_unreachable_target_falls_back_to_best_f1() -> None:
    pos, neg = [0.5, 0.4], [0.9, 0.6]
    fit = fit_threshold(pos, neg, target_precision=0.95)
    assert not fit.reached_target
    assert fit.f1 == max(prf(pos, neg, t)[2] for t in pos + neg)


def test_auroc_matches_pair_counting() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    # 0.5 beats 0.4, ties 0.5, loses to 0.6 -> (1 + 0.5 + 0) / 3
    assert auroc([0.5], [0.4, 0.5, 0.6]) == pytest.approx(0.5)


def test_logistic_calibrator_ranks_and_calibrates() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 2))
    true_p = 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0)))
    y = (rng.random(2000) < true_p).astype(float)
    w = fit_logistic(x, y, l2=0.1)
    probs = logistic(x, w)
    assert w["w"][0] == pytest.approx(2.0, abs=0.3) and abs(w["w"][1]) < 0.3
    assert probs.mean() == pytest.approx(y.mean(), abs=0.02)  # calibrated on average
    assert ((probs >= 0) & (probs <= 1)).all()
