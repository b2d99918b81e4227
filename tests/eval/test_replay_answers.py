import json
from pathlib import Path

from eval.replay_answers import load_rows, quotes_only, summary


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_only_rows_that_reached_the_model_are_replayed(tmp_path: Path) -> None:
    passage = {"n": 1, "path": "docs/a.md", "title": "A", "text": "alpha"}
    rows = _jsonl(
        tmp_path / "answers-demo.jsonl",
        [
            {"id": "q1", "lang": "en", "generated": True, "passages": [passage], "gold_paths": ["docs/a.md"]},
            {
                "id": "q2",
                "lang": "en",
                "generated": False,
                "passages": [passage],
                "gold_paths": [],
            },  # refused
            {"id": "q3", "lang": "zh", "generated": True, "passages": [], "gold_paths": []},  # no capture
            {"id": "q4", "lang": "zh", "generated": True, "passages": [passage], "gold_paths": []},
        ],
    )
    questions = _jsonl(
        tmp_path / "q.jsonl", [{"id": f"q{i}", "question": f"question {i}?"} for i in range(1, 5)]
    )
    loaded = load_rows(rows, questions, set())
    assert [(r["id"], r["question"]) for r in loaded] == [("q1", "question 1?"), ("q4", "question 4?")]
    assert [r["id"] for r in load_rows(rows, questions, {"q4"})] == ["q4"]


def test_summary_counts_each_outcome() -> None:
    base = {"markers": False, "echoed": False, "extractive": False, "declined": False, "ttft": 1.0}
    results = [
        {
            **base,
            "cited_gold": True,
            "stored_cited_gold": False,
            "markers": True,
            "seconds": 4.0,
            "main_fact": True,
        },
        {
            **base,
            "cited_gold": False,
            "stored_cited_gold": True,
            "echoed": True,
            "extractive": True,
            "seconds": 6.0,
            "generate_s": 5.0,
            "fence_s": 1.0,
            "main_fact": None,  # not judged: left out of the count
        },
    ]
    text = summary(results)
    assert text.startswith(
        "cite gold 1/2 (stored run 1/2), main fact stated 1/1 (eval.facts), model markers 1/2, "
        "echoed 1/2, quote fallback 1/2"
    )
    # Only the answer that copied the prompt is timed against its first fence line.
    assert text.endswith(
        "1 copied the prompt: generation p50 5.0 s in full, 1.0 s to the first fence line (20%)"
    )
    assert "copied the prompt" not in summary(results[:1])
    assert summary([]) == "no rows"


def test_quotes_only_grades_the_quote_fallback_without_a_model(tmp_path: Path) -> None:
    text = "Aliases are used for validation by default. Set validate_by_name=True to accept names too."
    passage = {"n": 1, "path": "docs/alias.md", "title": "Alias", "text": text}
    rows = _jsonl(
        tmp_path / "answers-demo.jsonl",
        [
            {"id": f"q{i}", "lang": "en", "generated": True, "passages": [passage], "gold_paths": []}
            for i in (1, 2)
        ],
    )
    facts = ["Set validate_by_name=True to accept the field name"]
    questions = _jsonl(
        tmp_path / "q.jsonl",
        [
            # The quote starts at "Aliases ..." and runs on into the sentence that holds the fact.
            {
                "id": "q1",
                "question": "Are aliases used by default?",
                "answer_facts": facts,
                "gold_quotes": ["Set validate_by_name=True"],
            },
            {
                "id": "q2",
                "question": "Something else?",
                "answer_facts": ["Use `populate_by_name`"],
                "gold_quotes": ["populate_by_name"],
            },
        ],
    )
    assert quotes_only(load_rows(rows, questions, set())).startswith(
        "quotes only: main fact stated 1/2 (eval.facts), a gold quote quoted 1/2"
    )
