"""eval.answers records what the model was given and what it wrote, and eval.replay_answers sends
those passages through the same answer path again. The model is a local server speaking the
OpenAI wire format: the test is about what is recorded, not what a model writes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from eval.answers import run
from eval.replay_answers import replay
from ingest.run import run_ingest
from retrieval.embedders import BaseEmbedder
from retrieval.tokenize import has_cjk
from service.container import build_components
from tests.conftest import fake_llm_settings, write_corpus
from tests.service._wire import openai_server

DOCS = {
    "docs/install.md": "# Install\n\nwidgetlib needs Python 3.10 or newer. Install it with pip.\n",
    "docs/deploy.md": "# Deploy\n\nRun widgetlib behind a reverse proxy such as nginx in production.\n",
}
ANSWER = "widgetlib needs Python 3.10 or newer [1]."
TRANSLATION = "widgetlib 需要 Python 3.10 或更高版本 [1]。"
QUESTIONS = [
    {
        "id": "q-en",
        "lang": "en",
        "question": "Which Python version does widgetlib need?",
        "answerable": True,
        "gold_paths": ["docs/install.md"],
    },
    {
        "id": "q-zh",
        "lang": "zh",
        "question": "widgetlib 需要哪个版本的 Python？",
        "answerable": True,
        "gold_paths": ["docs/install.md"],
    },
]


def _reply(request: dict[str, Any]) -> str:
    return TRANSLATION if request["messages"][0]["content"].startswith("Translate") else ANSWER


def test_a_run_records_passages_and_the_models_own_text_and_replays_them(
    tmp_path: Path, embedder: BaseEmbedder
) -> None:
    corpus = write_corpus(tmp_path / "corpus", DOCS)
    with openai_server(_reply) as llm:
        # embedding_model: the `embedder` fixture's, since run() builds its own components
        settings = fake_llm_settings(tmp_path / "data", llm.url, embedding_model="use-multilingual")
        components = build_components(settings, embedder=embedder)
        run_ingest(components.ingester(), "widgetlib", path=corpus)
        components.close()
        rows, stats = run("widgetlib", QUESTIONS, settings=settings)

        by_id = {r.id: r for r in rows}
        assert stats["answered"] == 2 and stats["answers_translated"] == 1
        for row in rows:
            assert row.generated and not row.error and row.cited_gold
            assert row.passages[0]["path"] == "docs/install.md"
            assert "Python 3.10" in row.passages[0]["text"]
            assert row.hits[0] == "docs/install.md"
        # The model's own text, before the service translated it for the Chinese question.
        assert by_id["q-zh"].raw.strip() == ANSWER
        assert has_cjk(by_id["q-zh"].answer)

        stored = [{**r.__dict__, "question": q["question"]} for r, q in zip(rows, QUESTIONS, strict=True)]
        replayed = asyncio.run(replay(stored, "widgetlib", f"{llm.url}/v1", "local", max_tokens=64))
    assert [r["id"] for r in replayed] == ["q-en", "q-zh"]
    assert all(r["cited_gold"] and r["markers"] for r in replayed)
    assert replayed[0]["answer"].startswith("widgetlib needs Python 3.10")
    assert has_cjk(replayed[1]["answer"])
