"""Cheap queries without an LLM: from section headings and from code identifiers, in
English and Chinese templates. Only distinctive ones are kept: a heading used by several
files ("Example", "Usage") or an identifier spread over many chunks does not point at one
passage, so it would teach the model noise."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.rerank.training.passages import Passage
from retrieval.tokenize import has_cjk

_IDENT_RE = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]{3,60})(?:\(\))?`")
_EN_HEADING = ["{h}", "How does {h} work?", "What should I know about {h}?", "{h}: how do I use it?"]
_ZH_HEADING = ["{h} 怎么用？", "关于 {h}，文档里怎么说？", "{h} 是什么？", "如何使用 {h}？"]
_ZH_NATIVE = ["{h}", "{h}怎么弄？", "请问{h}"]
_EN_IDENT = ["How do I use {i}?", "What does {i} do?", "Example of {i}", "{i} not working as expected"]
_ZH_IDENT = ["{i} 怎么用？", "{i} 有什么作用？", "{i} 的用法示例"]


@dataclass(frozen=True)
class TemplateQuery:
    key: str  # passage key
    lang: str
    question: str
    kind: str  # heading | identifier


def heading_queries(passages: Sequence[Passage], *, seed: int = 0) -> list[TemplateQuery]:
    rng = random.Random(seed)
    files_per_heading: Counter[str] = Counter()
    for h, _path in {(p.heading.lower(), p.path) for p in passages}:
        files_per_heading[h] += 1
    seen: set[tuple[str, str]] = set()
    out = []
    for p in passages:
        h = p.heading.strip().strip("#").strip()
        if len(h) < 4 or files_per_heading[h.lower()] > 1 or (p.path, h) in seen:
            continue
        seen.add((p.path, h))
        if has_cjk(h):
            out.append(TemplateQuery(p.key, "zh", rng.choice(_ZH_NATIVE).format(h=h), "heading"))
        else:
            out.append(TemplateQuery(p.key, "en", rng.choice(_EN_HEADING).format(h=h), "heading"))
            out.append(TemplateQuery(p.key, "zh", rng.choice(_ZH_HEADING).format(h=h), "heading"))
    return out


def identifier_queries(
    passages: Sequence[Passage], *, per_passage: int = 1, max_chunks: int = 2, seed: int = 0
) -> list[TemplateQuery]:
    """Queries about identifiers that occur in at most `max_chunks` chunks."""
    rng = random.Random(seed)
    chunks_per_ident: Counter[str] = Counter()
    found: dict[str, list[str]] = {}
    for p in passages:
        idents = sorted(set(_IDENT_RE.findall(p.text)))
        found[p.key] = idents
        chunks_per_ident.update(idents)
    out = []
    for p in passages:
        rare = [i for i in found[p.key] if chunks_per_ident[i] <= max_chunks and _looks_like_code(i)]
        for ident in rng.sample(rare, min(per_passage, len(rare))):
            lang = "zh" if rng.random() < 0.35 else "en"
            tmpl = rng.choice(_ZH_IDENT if lang == "zh" else _EN_IDENT)
            out.append(TemplateQuery(p.key, lang, tmpl.format(i=ident), "identifier"))
    return out


def _looks_like_code(name: str) -> bool:
    """snake_case, dotted.path or CamelCase: plain words in backticks are not identifiers."""
    return "_" in name or "." in name or any(c.isupper() for c in name[1:])


_FENCE_RE = re.compile(r"```.*?```", re.S)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def sentence_queries(passages: Sequence[Passage], *, seed: int = 0) -> list[TemplateQuery]:
    """One sentence of each passage as a query for it (the inverse cloze task of Lee et al.,
    2019): plentiful, in the corpus's own words, and longer than a heading, like real
    questions. Training removes the sentence from the positive passage half of the time
    (pairs.py), so the model learns to match a passage's topic, not to copy words."""
    rng = random.Random(seed)
    out = []
    for p in passages:
        text = _FENCE_RE.sub("\n", p.text)
        candidates = [s.strip() for s in _SENTENCE_SPLIT_RE.split(text) if _usable_sentence(s.strip())]
        if candidates:
            s = rng.choice(candidates)
            out.append(TemplateQuery(p.key, "zh" if has_cjk(s) else "en", s, "sentence"))
    return out


def _usable_sentence(s: str) -> bool:
    if not s or s[0] in "|#>-*`!<[{" or s.count("`") > 4:
        return False  # tables, headings, list markers, code-heavy lines
    if has_cjk(s):
        return 12 <= len(s) <= 120
    return 8 <= len(s.split()) <= 40
