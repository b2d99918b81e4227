"""Answers the small model gets wrong in known ways are repaired after generation: a Chinese
question answered in English is translated by a second model call (on /ask and in the stream's
final event; English questions never are), and an answer that only restates the question, or
declines although retrieval was confident, or copies the prompt's passages, is replaced by verbatim
quotes of the top passages.
The model is a local server speaking the OpenAI wire format, because the real model cannot be
made to misbehave on demand (tests/integration/test_ask_llm.py checks that the real model
translates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from _wire import RecordingServer, openai_server
from fastapi.testclient import TestClient

from ingest.run import run_ingest
from retrieval.embedders import BaseEmbedder
from retrieval.tokenize import has_cjk
from retrieval.types import Hit
from service.answer import extractive_answer, select_passages
from service.container import build_components
from service.main import create_app
from tests.conftest import fake_llm_settings, write_corpus

DOCS = {"docs/install.md": "# Install\n\nwidgetlib needs Python 3.10 or newer. Install it with pip.\n"}
ANSWER = "widgetlib needs Python 3.10 or newer [1]."
TRANSLATION = "widgetlib 需要 Python 3.10 或更高版本 [1]。"
RESTATED = "Which Python version does widgetlib need for a fresh install on Linux?"
DECLINED_Q = "Does widgetlib install with pip on Python 3.10?"
DECLINED = "The passages do not mention whether widgetlib installs with pip."
ECHO_Q = "How do I install widgetlib?"
ECHO_ZH_Q = "怎么安装 widgetlib？"
# What the 0.5B model writes for about a third of the pydantic dev questions: the prompt's passage.
ECHO = "[1] Install (docs/install.md)\n<<<\nwidgetlib needs Python 3.10 or newer. Install it with pip.\n>>>"
MARKERS_Q = "Can widgetlib be installed with pip on Python 3.10?"
SESSION_Q = "How do I start widgetlib from a Python shell?"
SESSION = "Import it, then start it:\n>>> import widgetlib\n>>> widgetlib.run()\nThis needs Python 3.10 [1]."


def _reply(request: dict[str, Any]) -> str:
    system = request["messages"][0]["content"]
    if system.startswith("Translate"):
        return TRANSLATION
    question = request["messages"][-1]["content"].split("Question: ")[-1].splitlines()[0]
    if question == DECLINED_Q:
        return DECLINED
    if question in (ECHO_Q, ECHO_ZH_Q):
        return ECHO
    if question == SESSION_Q:
        return SESSION
    if question == MARKERS_Q:
        return "[1] [1]"
    return f"[1] {question}" if question == RESTATED else ANSWER


@pytest.fixture(scope="module")
def app_and_llm(
    tmp_path_factory: pytest.TempPathFactory, embedder: BaseEmbedder
) -> Iterator[tuple[TestClient, RecordingServer]]:
    root = tmp_path_factory.mktemp("lang")
    corpus = write_corpus(root / "corpus", DOCS)
    with openai_server(_reply) as llm:
        settings = fake_llm_settings(root / "data", llm.url)
        components = build_components(settings, embedder=embedder)
        run_ingest(components.ingester(), "widgetlib", path=corpus)
        with TestClient(create_app(settings, components=components)) as client:
            yield client, llm
        components.close()


def _systems(llm: RecordingServer) -> list[str]:
    return [json.loads(r.body)["messages"][0]["content"] for r in llm.all_now()]


def test_english_answer_to_a_chinese_question_is_translated(app_and_llm) -> None:  # noqa: ANN001
    client, llm = app_and_llm
    llm.all_now()
    body = {"project": "widgetlib", "question": "widgetlib 需要哪个版本的 Python？"}
    data = client.post("/ask", json=body).json()
    assert data["refused"] is False and has_cjk(data["answer"]) and "3.10" in data["answer"]
    assert [c["path"] for c in data["citations"]] == ["docs/install.md"]
    systems = _systems(llm)
    assert len(systems) == 2 and systems[1].startswith("Translate")
    with client.stream("POST", "/ask", json={**body, "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    final = json.loads(lines[-1][6:])
    assert has_cjk(final["answer"]) and final["citations"]
    assert len(_systems(llm)) == 2


def test_english_question_is_never_translated(app_and_llm) -> None:  # noqa: ANN001
    client, llm = app_and_llm
    llm.all_now()
    body = {"project": "widgetlib", "question": "Which Python version does widgetlib need?"}
    data = client.post("/ask", json=body).json()
    assert data["answer"].startswith("widgetlib needs Python 3.10") and not has_cjk(data["answer"])
    assert len(_systems(llm)) == 1


@pytest.mark.parametrize(
    ("question", "reply", "quote"),
    [
        # The best-matching sentence and the one after it (the last one has none after it).
        (RESTATED, f"[1] {RESTATED}", "widgetlib needs Python 3.10 or newer. Install it with pip."),
        (DECLINED_Q, DECLINED, "widgetlib needs Python 3.10 or newer. Install it with pip."),
        (ECHO_Q, ECHO, "Install it with pip."),
        (ECHO_ZH_Q, ECHO, "widgetlib needs Python 3.10 or newer. Install it with pip."),
        (MARKERS_Q, "[1] [1]", "widgetlib needs Python 3.10 or newer. Install it with pip."),
    ],
    ids=["restated", "declined", "echo", "echo-zh-not-translated", "markers-only"],
)
def test_restated_declined_or_echoed_answers_become_quotes(app_and_llm, question, reply, quote) -> None:  # noqa: ANN001
    client, llm = app_and_llm
    llm.all_now()
    stats = client.app.state.answerer.stats
    markers_only = stats.answers_markers_only
    data = client.post("/ask", json={"project": "widgetlib", "question": question}).json()
    assert stats.answers_markers_only == markers_only + (question == MARKERS_Q)
    assert data["refused"] is False and reply not in data["answer"] and "<<<" not in data["answer"]
    assert data["answer"].endswith(f'\n- [1] "{quote}"')
    assert data["answer"].count("[1]") == 1  # no marker added to the heading line
    assert [c["path"] for c in data["citations"]] == ["docs/install.md"]
    assert len(_systems(llm)) == 1


def test_quotes_instead_of_an_answer_are_chosen_by_meaning(embedder: BaseEmbedder) -> None:
    """A Chinese question shares no words with an English passage: the quote is the sentence
    closest in meaning (the packaged cross-lingual embedder), not the shortest one. (English
    questions keep shared words: see the echo case above.)"""
    text = (
        "Install widgetlib with pip. The client gives up after 42 seconds when the server does not "
        "respond. widgetlib is released under the MIT licence."
    )
    hit = Hit(
        id="a", score=1.0, path="docs/a.md", url="", title="A", breadcrumb="", text=text, source_type="doc"
    )
    passages = select_passages([hit])
    question = "服务器一直没有响应的时候，客户端会等待多少秒？"
    by_meaning = extractive_answer(question, passages, embedder=embedder)
    # The quote starts at the chosen sentence (the one after it follows).
    assert '- [1] "The client gives up after 42 seconds' in by_meaning
    by_words = extractive_answer(question, passages)  # shared words: none, so the first sentence
    assert '- [1] "Install widgetlib with pip. The client' in by_words


def test_generation_stops_at_the_first_echoed_fence(app_and_llm) -> None:  # noqa: ANN001
    """An answer that starts copying the prompt's passages becomes quotes, so the model is not
    left to copy the rest: the stream (and /ask) stop reading at the first <<< line."""
    client, _ = app_and_llm
    stats = client.app.state.answerer.stats
    before = stats.generations_stopped_on_echo
    body = {"project": "widgetlib", "question": ECHO_Q}
    with client.stream("POST", "/ask", json={**body, "stream": True}) as r:
        events, kind = [], ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert "<<<" in streamed and "Python 3.10" not in streamed  # the wire had the whole echo
    final = events[-1][1]
    assert final["answer"].startswith("The closest passages") and final["citations"]
    assert client.post("/ask", json=body).json()["answer"] == final["answer"]
    assert stats.generations_stopped_on_echo == before + 2
    # A Python session in an answer is not the prompt's fence: generated to the end.
    answer = client.post("/ask", json={"project": "widgetlib", "question": SESSION_Q}).json()["answer"]
    assert ">>> widgetlib.run()" in answer and "3.10" in answer
    assert stats.generations_stopped_on_echo == before + 2


def test_quote_runs_on_into_the_next_prose_sentence_only() -> None:
    """A quote is the best sentence and the prose sentence right after it, verbatim; it stops at
    a heading or table row, and a code block removed from the prose never joins two sentences."""
    from service.answer.citations import best_quote

    text = "Aliases are used by default. Set validate_by_name=True to accept names.\n\n## Next\n"
    assert best_quote(text, ["aliases default"], following=1) == (
        "Aliases are used by default. Set validate_by_name=True to accept names."
    )
    assert best_quote(text, ["accept names"], following=1) == "Set validate_by_name=True to accept names."
    assert best_quote(text, ["aliases default"]) == "Aliases are used by default."
    fenced = "Install it like this.\n```bash\npip install widgetlib\n```\nThen import widgetlib in code."
    hit = Hit(
        id="f", score=1.0, path="docs/f.md", url="", title="F", breadcrumb="", text=fenced, source_type="doc"
    )
    answer = extractive_answer("How do I install it?", select_passages([hit]))
    quoted = answer.split('"')[1]
    assert quoted in fenced and "```" not in quoted


def _quote_answer(question: str, text: str) -> str:
    hit = Hit(
        id="c", score=1.0, path="docs/c.md", url="", title="C", breadcrumb="", text=text, source_type="doc"
    )
    return extractive_answer(question, select_passages([hit]))


def test_a_quote_that_introduces_code_brings_the_code() -> None:
    """ "To remove a project:" alone leaves the user without the command that follows it."""
    text = (
        "Projects are named at ingest.\n\nTo remove a project, for example one with a mistyped name:\n\n"
        '```bash {title="shell"}\nossqa delete myproject --yes\n```\n\nOther projects stay.\n'
    )
    answer = _quote_answer("How do I remove a project with a mistyped name?", text)
    assert answer.splitlines()[1:] == [
        '- [1] "To remove a project, for example one with a mistyped name:"',
        "```bash",
        "ossqa delete myproject --yes",
        "```",
    ]
    # Long code is cut (and closed); a quote that does not end in a colon gets no code.
    long_code = "\n".join(f"step_{i}()" for i in range(30))
    text = f"To remove a project, run:\n```python\n{long_code}\n```\n"
    answer = _quote_answer("How do I remove a project?", text)
    assert answer.count("step_") == 12 and answer.endswith("step_11()\n...\n```")
    plain = "Remove a project with the delete command.\n```bash\nossqa delete p --yes\n```\n"
    assert "```" not in _quote_answer("How do I remove a project?", plain)
