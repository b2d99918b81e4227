"""Grounded answers: retrieve -> decide -> prompt with numbered passages -> generate -> verify.

    answerer = Answerer(retriever, llm, conversations)
    answer = await answerer.ask("pydantic", "How do I read other fields in a validator?")

The pure parts (prompt building, citation parsing and repair, attribution, quotes, refusal
text) are plain functions so they can be tested without a model. `Answerer` orchestrates:
- refusal is decided from retrieval confidence *before* the model is called (see
  service/confidence.py); the 0.5B default model invents answers to unanswerable questions;
- after generation, [n] markers that point at passages the model was not given are removed,
  and sentences without markers are attributed to passages by lexical overlap (or embedding
  similarity for a Chinese answer over English passages); an answer that only restates the
  question, cites nothing or declines ("the passages do not say") becomes verbatim quotes of
  the passages: retrieval was confident, and the model's own judgement carries no signal;
- each citation carries a verbatim quote from its passage and the passage URL.

Where things live:
- passages.py: which chunks the model sees, trimmed and cleaned;
- prompt.py: the messages sent to the model (pure);
- citations.py: [n] markers repaired, sentences attributed, quotes;
- fallbacks.py: the refusal message, and quotes instead of an unusable model answer;
- answerer.py: `Answerer`, which runs the steps in order for `/ask` and its stream.
"""

from service.answer.answerer import RETRIEVE_K, Answerer, AnswerStats, Prepared, answer_dict
from service.answer.citations import (
    Attribution,
    attribute,
    best_quote,
    citation_for,
    closest_links,
    parse_markers,
    split_sentences,
)
from service.answer.fallbacks import (
    echoes_prompt,
    echoes_so_far,
    extractive_answer,
    model_declined,
    refusal_message,
    restates_question,
    says_nothing,
    strip_echo,
)
from service.answer.passages import Passage, neutralise, plain_markup, select_passages, trim
from service.answer.prompt import (
    SYSTEM_PROMPT,
    build_prompt,
    build_translation_prompt,
    code_lines,
    needs_translation,
    prose_of,
)

__all__ = [
    "RETRIEVE_K",
    "SYSTEM_PROMPT",
    "AnswerStats",
    "Answerer",
    "Attribution",
    "Passage",
    "Prepared",
    "answer_dict",
    "attribute",
    "best_quote",
    "build_prompt",
    "build_translation_prompt",
    "citation_for",
    "closest_links",
    "code_lines",
    "echoes_prompt",
    "echoes_so_far",
    "extractive_answer",
    "model_declined",
    "needs_translation",
    "neutralise",
    "parse_markers",
    "plain_markup",
    "prose_of",
    "refusal_message",
    "restates_question",
    "says_nothing",
    "select_passages",
    "split_sentences",
    "strip_echo",
    "trim",
]
