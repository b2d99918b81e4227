"""The question log: every /ask outcome is kept in SQLite under OSSQA_DATA_DIR, and maintainers
list what the docs did not answer (GET /admin/questions). Real embedded Qdrant, real packaged
embedder; the model server is down (nothing listens on the discard port), which is a real
outcome too. Answered outcomes are checked with the real model in tests/integration."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from _wire import demo_app_with_model_down as running
from fastapi.testclient import TestClient

from retrieval.embedders import BaseEmbedder
from service.question_log import QUESTION_LOG_FILE

ADMIN = {"Authorization": "Bearer admin-secret"}
OFF_TOPIC = "How long should I knead sourdough bread before baking it?"
ON_TOPIC = "How do I enable CORS with CORSMiddleware?"


def ask(client: TestClient, question: str) -> dict[str, object]:
    r = client.post("/ask", json={"project": "demo", "question": question})
    assert r.status_code in (200, 503), r.text
    return r.json()  # type: ignore[no-any-return]


def test_refused_and_failed_questions_are_listed_for_maintainers(
    tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder
) -> None:
    with running(tmp_path, tiny_corpus, embedder) as client:
        refused = ask(client, OFF_TOPIC)
        assert refused["refused"] is True
        failed = ask(client, ON_TOPIC)  # confident, so the model is called: it is down
        assert failed["ok"] is False

        rows = client.get("/admin/questions", params={"project": "demo"}, headers=ADMIN).json()
        assert rows["count"] == 2
        newest, oldest = rows["questions"]
        assert (newest["question"], newest["outcome"]) == (ON_TOPIC, "error")
        assert (oldest["question"], oldest["outcome"]) == (OFF_TOPIC, "refused")
        assert oldest["confidence"] == refused["confidence"] and oldest["lang"] == "en"
        assert oldest["channel"] == "api"
        # A refusal keeps the closest pages: where the maintainer would add the answer.
        assert oldest["paths"] == [c["path"] for c in refused["closest"]] and oldest["paths"]

        only = client.get("/admin/questions", params={"outcome": "refused"}, headers=ADMIN).json()
        assert [q["question"] for q in only["questions"]] == [OFF_TOPIC]
        info = client.get("/projects/demo").json()["questions"]
        assert info == {"asked": 2, "answered": 0, "refused": 1, "error": 1}

    with running(tmp_path, tiny_corpus, embedder) as client:  # kept across restarts
        r = client.get("/admin/questions", params={"format": "csv", "outcome": "refused"}, headers=ADMIN)
        assert r.headers["content-type"].startswith("text/csv")
        (row,) = csv.DictReader(io.StringIO(r.text))
        assert row["question"] == OFF_TOPIC and row["project"] == "demo" and row["paths"].startswith("docs/")


def test_the_widget_says_it_asked(tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder) -> None:
    with running(tmp_path, tiny_corpus, embedder) as client:
        r = client.post("/ask", json={"project": "demo", "question": OFF_TOPIC, "channel": "widget"})
        assert r.status_code == 200
        bad = client.post("/ask", json={"project": "demo", "question": OFF_TOPIC, "channel": "slack"})
        assert bad.status_code == 422 and "channel" in bad.json()["error"]  # bots call in-process
        rows = client.get("/admin/questions", headers=ADMIN).json()["questions"]
        assert [q["channel"] for q in rows] == ["widget"]


def test_the_list_needs_the_admin_key_and_valid_filters(
    tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder
) -> None:
    with running(tmp_path, tiny_corpus, embedder) as client:
        assert client.get("/admin/questions").status_code == 401
        for params in ({"outcome": "maybe"}, {"since": -1}, {"limit": 0}, {"format": "xml"}):
            r = client.get("/admin/questions", params=params, headers=ADMIN)
            assert r.status_code == 422 and r.json()["error"], params


def test_question_log_off_keeps_nothing(tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder) -> None:
    with running(tmp_path, tiny_corpus, embedder, question_log=False) as client:
        assert ask(client, OFF_TOPIC)["refused"] is True
        r = client.get("/admin/questions", headers=ADMIN)
        assert r.status_code == 404 and "QUESTION_LOG=false" in r.json()["error"]
        assert "questions" not in client.get("/projects/demo").json()
    assert not (tmp_path / QUESTION_LOG_FILE).exists()


def test_a_broken_log_does_not_cost_the_user_the_answer(
    tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder
) -> None:
    with running(tmp_path, tiny_corpus, embedder) as client:
        log = client.app.state.questions  # type: ignore[attr-defined]
        log.path = tmp_path  # a folder: SQLite cannot open it
        assert ask(client, OFF_TOPIC)["refused"] is True


def test_cli_lists_what_the_docs_did_not_answer(
    tmp_path: Path,
    tiny_corpus: Path,
    embedder: BaseEmbedder,
    monkeypatch,
    capsys,  # noqa: ANN001
) -> None:
    from service.cli import main

    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path))
    assert main(["questions", "demo"]) == 0
    assert "no questions logged" in capsys.readouterr().out
    with running(tmp_path, tiny_corpus, embedder) as client:
        ask(client, OFF_TOPIC)
        ask(client, ON_TOPIC)
        # Read while the server runs: SQLite, not the locked index.
        assert main(["questions", "demo", "--outcome", "refused"]) == 0
    out = capsys.readouterr().out
    assert OFF_TOPIC in out and ON_TOPIC not in out and "1 question(s)" in out
    assert main(["questions", "demo", "--days", "1"]) == 0
    assert "2 question(s)" in capsys.readouterr().out
    assert main(["questions", "other"]) == 0
    assert "0 question(s)" in capsys.readouterr().out
