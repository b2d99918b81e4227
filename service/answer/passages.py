"""The numbered passages the model is shown: the top distinct chunks, trimmed, with
instruction-like lines and site-generator markup removed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.types import Hit
from service.markdown import CODE_SPAN_RE, FENCE_RE

MAX_PASSAGES = 3  # prompt processing is ~40 tok/s on one CPU thread: every passage costs seconds
PASSAGE_CHARS = 900  # ~220 tokens of English


@dataclass(frozen=True)
class Passage:
    n: int  # the number the model sees: [n]
    hit: Hit
    text: str  # trimmed, injection-neutralised text shown to the model


# Instruction-like lines inside a document are data, never commands: they are blanked before
# the model sees them (the system prompt says so as well; a 0.5B model needs both).
_INJECTION_RE = re.compile(
    r"(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(instruction|prompt|rule|direction)s?"
    r"|\byou are now\b|\bsystem prompt\b|\bnew instructions?\b|\bact as\b"
    r"|忽略.{0,10}(指令|指示|提示)|无视.{0,10}(指令|指示)",
    re.IGNORECASE,
)


def neutralise(text: str) -> str:
    """Drop sentences/lines of a passage that try to instruct the model."""
    kept = []
    for line in text.splitlines():
        if _INJECTION_RE.search(line):
            parts = re.split(r"(?<=[.!?。！？])\s*", line)
            line = " ".join(p for p in parts if p and not _INJECTION_RE.search(p))
        kept.append(line)
    return "\n".join(kept)


# Site-generator markup the model would copy into answers, where it renders broken: link targets
# (17.8% of Pydantic's characters, 14.5% of LLaMA-Factory's), mkdocs cross-references
# `[text][pydantic.X]`, HTML tags and FastAPI's `{* docs_src/... *}` includes. The passage keeps
# its words; the citation carries the link.
_IMAGE_RE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK_RE = re.compile(r"\[([^\]\n]+)\](?:\([^)\n]*\)|\[[^\]\n]*\])")
_LINK_DEF_RE = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s+\S+.*$\n?", re.M)
# Only real HTML tag names: "<your-token>" or List<T> in prose are words, not markup.
_HTML_TAG_RE = re.compile(
    r"</?(?:a|abbr|b|br|center|code|dd|del|details|div|dl|dt|em|figcaption|figure|font|h[1-6]|hr|i|"
    r"iframe|img|input|kbd|li|ol|p|picture|pre|s|small|source|span|strong|sub|summary|sup|table|tbody|"
    r"td|th|thead|tr|u|ul|video)(?:\s[^<>\n]*)?/?>",
    re.IGNORECASE,
)
_INCLUDE_RE = re.compile(r"\{\*.*?\*\}", re.S)


def plain_markup(text: str) -> str:
    """Markdown links and images reduced to their text, mkdocs cross-references, link
    definitions, HTML tags and include directives removed. Fenced and inline code untouched."""
    parts = re.split(f"({FENCE_RE.pattern})", text, flags=re.S)
    # Even parts are prose, odd ones fenced code.
    return "".join(_plain_prose(part) if i % 2 == 0 else part for i, part in enumerate(parts))


def _plain_prose(prose: str) -> str:
    spans: list[str] = []  # inline code, hidden so that `d["a"][0]` is never read as a link

    def hide(m: re.Match[str]) -> str:
        spans.append(m.group(0))
        return f"\x00{len(spans) - 1}\x00"

    prose = CODE_SPAN_RE.sub(hide, prose)
    prose = _INCLUDE_RE.sub("", prose)
    prose = _LINK_DEF_RE.sub("", prose)
    prose = _IMAGE_RE.sub(r"\1", prose)
    prose = _LINK_RE.sub(r"\1", prose)
    prose = _HTML_TAG_RE.sub("", prose)
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], prose)


def _squeeze(text: str) -> str:
    """At most one blank line in a row, no blank edges."""
    return re.sub(r"\n{3,}", "\n\n", text.strip())


# Where a passage may end: after a sentence, or at a line break that ends a block (a blank line,
# the next list item, table row, heading or fence). Not at any line break: Markdown is wrapped at
# ~100 characters, and cutting there left 36 of 173 cut dev-set passages (and the quotes taken
# from them) ending mid-sentence ("which means this argument is no longer").
_CUT_RE = re.compile(r"[.!?。！？:：](?=\s)|[。！？]|\n(?=[ \t]*(?:\n|[-*+|#>]|\d+[.)]\s|```))")


def trim(text: str, limit: int) -> str:
    """Cut at a sentence or block end near `limit` so the model never sees half a sentence."""
    text = _squeeze(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if cut.count("```") % 2:  # inside a code block, any line is whole
        end = cut.rfind("\n")
    else:
        end = max((m.end() for m in _CUT_RE.finditer(text, 0, limit + 1) if m.end() <= limit), default=-1)
    return cut[:end].rstrip() if end > limit // 2 else cut.rstrip() + " …"


def select_passages(
    hits: Sequence[Hit], *, k: int = MAX_PASSAGES, chars: int = PASSAGE_CHARS
) -> list[Passage]:
    """The top-k distinct chunks, numbered from 1, each trimmed to the passage budget."""
    out: list[Passage] = []
    seen: set[str] = set()
    for hit in hits:
        key = hit.id or f"{hit.path}#{hit.text[:50]}"
        if key in seen:
            continue
        seen.add(key)
        # Trimmed before the markup goes, so a passage never grows in tokens: Chinese text that
        # would fill the room of a dropped URL costs about twice the tokens per character.
        text = _squeeze(plain_markup(trim(neutralise(hit.text), chars)))
        out.append(Passage(n=len(out) + 1, hit=hit, text=text))
        if len(out) == k:
            break
    return out
