"""Did an answer state the key facts? A lexical grader for the eval sets' `answer_facts`.

Citing the gold page (issue 3's metric) says where an answer points, not whether it tells the
user what they need: a list of quotes or a wrong answer can cite the gold page. This grader
reads each key fact as
- anchors: the technical tokens a correct answer cannot paraphrase (`validate_by_name=True`,
  `dataset_dir`, `--stage`, `2.9`, `USE_MODELSCOPE_HUB=1`), which must all appear, and
- content terms: the fact's other words (stemmed English, jieba-cut Chinese), of which at
  least half must appear.
A fact in another language than the answer (the pydantic set's Chinese slice keeps English
facts) is judged on its anchors alone, and not judged at all when it has none.

It is a proxy, not a judge: it cannot see a negation ("you cannot") or a wrong value beside the
right name. Use it to compare models or prompts on the same passages, with a hand check of a
sample (eval/results/answer_models.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.tokenize import has_cjk, tokenize

CONTENT_SHARE = 0.5
_CODE_SPAN = re.compile(r"`([^`]+)`")
# Identifier-like words: snake_case, dotted.names, CamelCase with an inner capital, flags,
# key=value, and numbers with a dot (versions).
_ANCHOR = re.compile(
    r"(?<![\w-])--?[A-Za-z][\w-]*(?:=\S+)?"
    r"|\b[A-Za-z_][\w]*(?:[._=][\w.\-\"']+)+"
    r"|\b[a-z]+[A-Z][A-Za-z0-9]*\b|\b[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*\b"
    r"|\b[A-Z0-9]{2,}(?:_[A-Z0-9]+)+\b"
    r"|\b\d+\.\d+(?:\.\d+)?\b"
)
_NOT_ANCHORS = frozenset({"e.g", "i.e", "e.g.", "i.e.", "etc."})


def _norm(text: str) -> str:
    flat = re.sub(r"\s+", "", text).lower().strip("'\"")
    return flat[1:] if re.match(r"v\d", flat) else flat  # "v2.9" is written "2.9" as often


def anchors(fact: str) -> list[str]:
    spans = [m.group(1) for m in _CODE_SPAN.finditer(fact)]
    rest = _CODE_SPAN.sub(" ", fact)
    found = spans + [m.group(0).rstrip(".,;:)") for m in _ANCHOR.finditer(rest)]
    out: list[str] = []
    for a in found:
        n = _norm(a)
        if len(n) > 1 and n not in out and n not in _NOT_ANCHORS:
            out.append(n)
    return out


@dataclass(frozen=True)
class FactGrade:
    fact: str
    judged: bool  # False: another language and no anchor, nothing to compare
    stated: bool
    missing: tuple[str, ...] = ()


def grade_fact(fact: str, answer: str) -> FactGrade:
    answer_flat = _norm(answer)
    wanted = anchors(fact)
    missing = [a for a in wanted if a not in answer_flat]
    same_language = has_cjk(fact) == has_cjk(answer)
    if not same_language:
        if not wanted:
            return FactGrade(fact, judged=False, stated=False)
        return FactGrade(fact, judged=True, stated=not missing, missing=tuple(missing))
    anchor_terms = {t for a in wanted for t in tokenize(a)}
    terms = {t for t in tokenize(_CODE_SPAN.sub(" ", fact)) if t not in anchor_terms}
    answer_terms = set(tokenize(answer))
    absent = [t for t in sorted(terms) if t not in answer_terms]
    enough = not terms or (len(terms) - len(absent)) / len(terms) >= CONTENT_SHARE
    stated = not missing and enough
    return FactGrade(
        fact, judged=True, stated=stated, missing=tuple(missing + (absent if not enough else []))
    )


def states_main_fact(facts: Sequence[str], answer: str) -> bool | None:
    """Whether the answer states the first (main) key fact; None when it cannot be judged."""
    if not facts:
        return None
    g = grade_fact(facts[0], answer)
    return g.stated if g.judged else None
