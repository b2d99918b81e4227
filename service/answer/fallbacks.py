"""What the user gets instead of the model's text: the refusal message, and verbatim quotes of the
passages when the model's answer is unusable (it copied the prompt, restated the question or
declined although retrieval was confident)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.embedders.base import BaseEmbedder
from retrieval.tokenize import question_lang, tokenize
from service.answer.citations import MARKER_RE, best_quote, split_sentences
from service.answer.passages import Passage
from service.markdown import FENCE_RE
from service.types import Citation

RESTATEMENT_SHARE = 0.8  # a sentence with this share of its terms taken from the question restates it


# The 0.5B model sometimes echoes the prompt's scaffolding: passage headers "[2] Title (path)",
# the <<< >>> delimiters, "Passages:" / "Question:" lines.
_ECHO_RE = re.compile(r"^\s*(\[\d{1,2}\] [^\n]*\([^)\n]+\)|<<<|>>>|Passages:|Question:[^\n]*)\s*$", re.M)


_DELIMITER_RE = re.compile(r"^\s*(<<<|>>>)\s*$", re.M)
# The prompt's closing line, which the model sometimes copies into its answer, at times as the
# whole answer ("Answer in English. Cite passages like [1] and [2].").
_REMINDER_RE = re.compile(
    r"(请用中文回答。|Answer in English\.)[ \t]*(Cite passages like [^\n]*?\[\d\](?: and \[\d\])?\.?)?"
)


def echoes_prompt(answer: str) -> bool:
    """The model copied the prompt's passages (their <<< >>> fences) instead of answering: 24 of
    58 of the 0.5B model's answers on the pydantic dev set and 9 of 21 on llamafactory, nearly
    always passage [1]."""
    return bool(_DELIMITER_RE.search(answer))


def echoes_so_far(partial: str) -> bool:
    """`echoes_prompt` on the whole lines of a streamed answer so far: a trailing ">>>" may be the
    start of a Python session line (">>> import x"), not the prompt's fence."""
    return echoes_prompt(partial[: partial.rfind("\n") + 1])


def strip_echo(answer: str) -> str:
    """Remove echoed prompt scaffolding and the prompt's closing reminder; the passage text itself
    stays (and is attributable)."""
    return re.sub(r"\n{3,}", "\n\n", _REMINDER_RE.sub("", _ECHO_RE.sub("", answer))).strip()


def says_nothing(answer: str) -> bool:
    """Nothing but citation markers ("[1] [2] [3]"): the 0.5B model's whole answer to 2 of the 21
    llamafactory dev questions, in every stored run."""
    return not tokenize(MARKER_RE.sub(" ", answer))


# --------------------------------------------------------------------------- restated questions


def restates_question(answer: str, question: str) -> bool:
    """The model only restated the question (the 0.5B model does this for about one answer in
    seven on the public dev sets): every prose sentence of five or more terms is a question or
    takes RESTATEMENT_SHARE of its terms from the question. Code may be the answer: never judged."""
    if "```" in answer:
        return False
    asked = set(tokenize(question))
    judged = 0
    for sentence in split_sentences(answer):
        text = MARKER_RE.sub(" ", sentence).strip()
        terms = set(tokenize(text))
        if len(terms) < 5:
            continue
        judged += 1
        if text.endswith(("?", "？")):
            continue
        if len(terms & asked) / len(terms) < RESTATEMENT_SHARE:
            return False
    return judged > 0


# Each quote is the best-matching sentence and the one after it: docs name the topic first and
# say what to do next ("By default, aliases are used for validation. Set validate_by_name=True
# to ..."). Quoting every answered dev-set item's passages (session 17's runs), the main key
# fact (eval/facts.py) was quoted in 14/45 pydantic and 2/19 llamafactory answers instead of 12
# and 1, and a gold quote in 15 and 1 instead of 11 and 0, for answers a third longer.
QUOTE_FOLLOWING = 1

_EXTRACTIVE_HEAD = {
    "en": "The closest passages of the documentation say:",
    "zh": "文档中最相关的段落原文如下：",
}


def extractive_answer(
    question: str, passages: Sequence[Passage], *, embedder: BaseEmbedder | None = None
) -> str:
    """Instead of an unusable answer: the sentence of each passage the model was given that best
    matches the question, with the sentence after it, verbatim and numbered, so the user still
    gets grounded text. All of them, not only the top two: the page that answers is third about
    one time in ten (on the public dev sets, 2 of 39 such answers cited the gold page only
    through passage [3]).

    For a Chinese question the sentence closest in meaning (the multilingual embedder, when
    given) is quoted rather than the one sharing most words: a colloquial Chinese question shares
    few words with the docs, none with English ones. On the llamafactory dev run of session 17 (all
    Chinese), the quote held the gold sentence in 6 of 10 such answers instead of 4. English
    questions keep shared words: by meaning short answers lose ("Install it with pip." against
    "widgetlib needs Python 3.10 or newer." for "How do I install widgetlib?")."""
    lang = question_lang(question)
    by_meaning = embedder if lang == "zh" else None
    lines = [_EXTRACTIVE_HEAD.get(lang, _EXTRACTIVE_HEAD["en"])]
    for p in passages:
        prose = FENCE_RE.sub("\n", p.text)  # an import line is no answer; sentences stay verbatim
        # The marker leads: a quote ending in "。" is a sentence of its own, and attribution
        # would otherwise append a marker inside it.
        source = prose if prose.strip() else p.text
        quote = best_quote(source, [question], embedder=by_meaning, following=QUOTE_FOLLOWING)
        if quote not in p.text:  # the next sentence came after a removed code block
            quote = best_quote(source, [question], embedder=by_meaning)
        # One line per quote: a wrapped source line would break the list item in chat clients.
        lines.append(f'- [{p.n}] "{" ".join(quote.split())}"')
        lines.extend(introduced_code(p.text, quote))
    return "\n".join(lines)


# Docs introduce the command or config that answers with a colon ("To remove a project:", "添加以下
# 参数："); a quote ending there is only half a quote. A quoted passage ended in such a colon in
# 19 of 93 quotes of pydantic's stored dev-set quote answers and 8 of 45 of llamafactory's.
INTRODUCED_CODE_LINES = 12
# group 1: the opening fence with its language only (not attributes such as {test="skip"})
_INTRODUCED_CODE_RE = re.compile(r"[ \t]*\n?[ \t]*\n[ \t]*(```[\w+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|$)", re.S)


def introduced_code(passage_text: str, quote: str) -> list[str]:
    """The fenced block right after `quote` in the passage when the quote introduces it with a
    colon, as Markdown lines (at most INTRODUCED_CODE_LINES of code); else nothing."""
    if not quote.rstrip().endswith((":", "：")):
        return []
    at = re.search(r"\s+".join(map(re.escape, quote.split())), passage_text)
    block = _INTRODUCED_CODE_RE.match(passage_text, at.end()) if at else None
    if block is None:
        return []
    code = block.group(2).strip("\n").split("\n")
    if not any(line.strip() for line in code):
        return []
    shown = code[:INTRODUCED_CODE_LINES] + (["..."] if len(code) > INTRODUCED_CODE_LINES else [])
    return [block.group(1), *shown, "```"]


# --------------------------------------------------------------------------- refusal text

_REFUSAL = {
    "en": "The {project} documentation does not seem to cover this question. The closest pages are:",
    "zh": "{project} 的文档似乎没有涉及这个问题。最相关的页面如下：",
}

# The model saying on its own that the passages do not answer.
_MODEL_DECLINES_RE = re.compile(
    r"(do(es)? not (contain|cover|mention|provide|include|say)|not (mentioned|covered|provided|specified)"
    r"|no (information|mention)|cannot (find|answer)|unable to (find|answer)"
    r"|没有(提到|提及|涉及|包含|相关)|未(提及|涉及|提到)|无法(回答|找到|确定))",
    re.IGNORECASE,
)


def refusal_message(question: str, project: str, closest: Sequence[Citation]) -> str:
    lang = question_lang(question)
    head = _REFUSAL.get(lang, _REFUSAL["en"]).format(project=project)
    lines = [head] + [f"- {c.title}: {c.url or c.path}" for c in closest]
    return "\n".join(lines)


def model_declined(answer: str) -> bool:
    """The model's own "the passages do not say" with nothing else of substance."""
    if not _MODEL_DECLINES_RE.search(answer):
        return False
    substantive = [s for s in split_sentences(answer) if not _MODEL_DECLINES_RE.search(s)]
    return len(" ".join(substantive).strip()) < 40
