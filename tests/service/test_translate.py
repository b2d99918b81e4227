"""Which model replies are accepted as a translation of a Chinese question (pure logic; the real
model's translation is exercised in tests/integration/test_ask_llm.py)."""

from __future__ import annotations

import pytest

from service.translate import clean_translation, translation_messages

QUESTION = "怎样让 `model_dump` 不输出值为 None 的字段？"


def test_a_plain_english_question_is_kept_without_quotes() -> None:
    english = "How do I make `model_dump` leave out fields whose value is None?"
    assert clean_translation(QUESTION, f'"{english}"') == english


@pytest.mark.parametrize(
    "reply",
    [
        "",
        QUESTION,  # echoed, still Chinese
        "Use exclude_none:\n\n```python\nm.model_dump(exclude_none=True)\n```",  # an answer
        "You can do this.\n\nFirst, set the option. Then call it.",  # paragraphs: an answer
        "How do I " + "leave out fields " * 40,  # far longer than the question
    ],
)
def test_replies_that_are_not_translations_are_dropped(reply: str) -> None:
    assert clean_translation(QUESTION, reply) is None


def test_the_prompt_asks_to_translate_not_to_answer() -> None:
    messages = translation_messages(QUESTION)
    assert messages[-1].content.endswith(QUESTION)
    assert "do not answer" in messages[-1].content
