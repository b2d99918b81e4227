from eval.refusal_sweep import sweep_table


def test_sweep_counts_passed_and_refused_per_threshold_and_language() -> None:
    scored = [("en", True, 0.9), ("en", True, 0.18), ("en", False, 0.3), ("zh", False, 0.05)]
    table = sweep_table("demo", scored)
    # At 0.2 the 0.18 answerable question is held back, the 0.3 unanswerable one passes.
    assert "| 0.20 | all | 50% (1/2) | 50% (1/2) |" in table
    assert "| 0.20 | zh | 0% (0/0) | 100% (1/1) |" in table
    assert "| 0.15 | en | 100% (2/2) | 0% (0/1) |" in table
    # 0.9 beats both negatives, 0.18 beats one of two: AUROC 3/4.
    assert "AUROC (all): 0.750" in table
