"""Citations: [n] markers parsed and repaired, answer sentences without markers attributed to
passages, and a verbatim quote for each cited passage."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.embedders.base import BaseEmbedder
from retrieval.tokenize import tokenize
from retrieval.types import Hit
from service.answer.passages import Passage, plain_markup
from service.markdown import outside_code
from service.types import Citation

CLOSEST_LINKS = 3
QUOTE_CHARS = 240
ATTRIBUTION_MIN_OVERLAP = 0.35  # share of a sentence's terms found in the passage
ATTRIBUTION_MIN_COSINE = 0.35  # cross-lingual fallback (USE)


MARKER_RE = re.compile(
    r"[\[【［]\s*(?:passage\s*|source\s*)?(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】］]", re.I
)
# A sentence ends at . ! ? followed by space (not "3.10"), CJK end punctuation, or a line
# break; [n] markers written just after the full stop stay with their sentence.
_SENTENCE_RE = re.compile(
    r"[^\n]*?(?:[.!?]+(?:\s*[\[【]\d{1,2}[\]】])*(?=\s|$)|[。！？]+(?:[\[【]\d{1,2}[\]】])*|\n|$)[ \t]*\n?"
)


@dataclass
class Attribution:
    """What verification found; `Answerer.stats` aggregates these for measurement."""

    answer: str
    cited: list[int]  # passage numbers, in first-cited order
    markers_valid: int = 0
    markers_invalid: int = 0
    sentences: int = 0
    sentences_by_overlap: int = 0
    support: dict[int, list[str]] = field(default_factory=dict)  # n -> answer sentences citing it


def parse_markers(text: str) -> list[list[int]]:
    """Every [n] / [n, m] / 【n】 marker, as lists of numbers."""
    return [[int(x) for x in re.split(r"\s*[,，、]\s*", m.group(1))] for m in MARKER_RE.finditer(text)]


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing whitespace: "".join(split_sentences(t)) == t."""
    return [s for s in (m.group(0) for m in _SENTENCE_RE.finditer(text)) if s]


# The 0.5B model sometimes echoes the prompt's scaffolding: passage headers "[2] Title (path)",
# the <<< >>> delimiters, "Passages:" / "Question:" lines.


def _overlap(sentence: str, passage_terms: set[str]) -> float:
    terms = set(tokenize(MARKER_RE.sub(" ", sentence)))
    if not terms:
        return 0.0
    return len(terms & passage_terms) / len(terms)


def attribute(
    answer: str,
    passages: Sequence[Passage],
    *,
    embedder: BaseEmbedder | None = None,
    min_overlap: float = ATTRIBUTION_MIN_OVERLAP,
    min_cosine: float = ATTRIBUTION_MIN_COSINE,
    fill_missing: bool = True,
) -> Attribution:
    """Repair the answer's citations.

    Markers naming a passage that was given are kept; others are removed. A sentence with
    no valid marker gets the passage it overlaps most (terms, else embedding cosine when an
    embedder is given), and that marker is appended to it.
    """
    # A model that copies wrapped docs writes wrapped lines; joined first, a sentence is a
    # sentence, and an appended marker lands at its end, not inside it ("higher [1]\nrefuses").
    answer = _unwrap(answer)
    valid = {p.n for p in passages}
    terms = {p.n: set(tokenize(p.hit.title + " " + p.hit.text)) for p in passages}
    result = Attribution(answer="", cited=[])
    out_sentences: list[str] = []
    sentences = split_sentences(answer)
    pending: list[int] = []  # indexes of sentences still without a source
    per_sentence: list[list[int]] = []
    fences_before = 0  # an odd count means the sentence sits inside a fenced code block
    for s in sentences:
        in_code = fences_before % 2 == 1 or "```" in s
        fences_before += s.count("```")
        nums: list[int] = []

        def keep(m: re.Match[str], nums: list[int] = nums) -> str:
            good = []
            for x in re.split(r"\s*[,，、]\s*", m.group(1)):
                if int(x) in valid:
                    good.append(int(x))
                    result.markers_valid += 1
                else:
                    result.markers_invalid += 1
            nums.extend(good)
            return "".join(f"[{n}]" for n in dict.fromkeys(good))

        # Code comes back byte for byte: in `items[0]` the [0] is an index, not a citation.
        fixed = s if in_code else outside_code(s, lambda part: _tidy(MARKER_RE.sub(keep, part)))
        out_sentences.append(fixed)
        per_sentence.append(nums)
        content = MARKER_RE.sub("", s).strip()
        if len(tokenize(content)) >= 3 and not in_code:  # a marker inside code would corrupt it
            result.sentences += 1
            if not nums:
                pending.append(len(out_sentences) - 1)
    # Attribute sentences without markers.
    if fill_missing and pending and passages:
        need_embed = []
        for i in pending:
            scores = {n: _overlap(sentences[i], t) for n, t in terms.items()}
            best = max(scores, key=lambda n: (scores[n], -n))
            if scores[best] >= min_overlap:
                per_sentence[i] = [best]
                out_sentences[i] = _append_marker(out_sentences[i], best)
                result.sentences_by_overlap += 1
            else:
                need_embed.append(i)
        if need_embed and embedder is not None:
            embedder = getattr(embedder, "multilingual", embedder)  # cross-lingual part only
            pvec = embedder.embed_documents([p.hit.title + "\n" + p.text for p in passages])
            svec = embedder.embed_documents([MARKER_RE.sub("", sentences[i]) for i in need_embed])
            sims = svec @ pvec.T
            for row, i in enumerate(need_embed):
                j = int(np.argmax(sims[row]))
                if float(sims[row, j]) >= min_cosine:
                    n = passages[j].n
                    per_sentence[i] = [n]
                    out_sentences[i] = _append_marker(out_sentences[i], n)
                    result.sentences_by_overlap += 1
    for s, nums in zip(sentences, per_sentence, strict=True):
        for n in nums:
            if n not in result.cited:
                result.cited.append(n)
            result.support.setdefault(n, []).append(MARKER_RE.sub("", s).strip())
    result.answer = "".join(out_sentences).strip()
    if fill_missing:
        result.answer = _cite_copied_code(result, passages)
    return result


# A code line worth tracing: not an import, a comment or a bracket on its own.
_TRACEABLE_MIN_CHARS = 13


def _traceable(code: str) -> list[str]:
    lines = (ln.strip() for ln in code.splitlines())
    skip = ("from ", "import ", "#")
    return [ln for ln in lines if len(ln) >= _TRACEABLE_MIN_CHARS and not ln.startswith(skip)]


def _code_source(code: str, passages: Sequence[Passage]) -> int | None:
    """The passage holding most, and at least half, of the block's traceable lines verbatim."""
    lines = _traceable(code)
    if not lines or not passages:
        return None
    shares = {p.n: sum(ln in p.hit.text for ln in lines) / len(lines) for p in passages}
    best = max(shares, key=lambda n: (shares[n], -n))
    return best if shares[best] >= 0.5 else None


def _cite_copied_code(result: Attribution, passages: Sequence[Passage]) -> str:
    """A code block the model copied is cited to the passage it came from. Sentence attribution
    skips code, so a copied example went uncited or was credited to the passage the prose
    around it resembled. The marker goes on the line introducing the block ("Here's how [1]:")."""
    lines = result.answer.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("```"):
            i += 1
            continue
        end = next((k for k in range(i + 1, len(lines)) if lines[k].lstrip().startswith("```")), None)
        if end is None:
            break
        code = "\n".join(lines[i + 1 : end])
        n = _code_source(code, passages)
        if n is not None:
            if n not in result.cited:
                result.cited.append(n)
            result.support.setdefault(n, []).append(_traceable(code)[0])
            intro = next((k for k in range(i - 1, -1, -1) if lines[k].strip()), None)
            text = lines[intro] if intro is not None else ""
            prose = text and not text.lstrip().startswith(("```", "#", "|", ">"))
            if intro is not None and prose and f"[{n}]" not in text:
                lines[intro] = _append_marker(text, n)
        i = end + 1
    return "\n".join(lines)


def _tidy(prose: str) -> str:
    """No space left before punctuation where a marker was removed."""
    return re.sub(r"[ \t]+([.,;:!?。，])", r"\1", prose)


def _append_marker(sentence: str, n: int) -> str:
    m = re.search(r"([.!?。！？]*)(\s*)$", sentence)
    assert m is not None
    body = sentence[: m.start()].rstrip()
    return f"{body} [{n}]{m.group(1)}{m.group(2)}"


def _quotable(sentence: str) -> bool:
    """Prose, not markup: no headings, anchors, fences, table rows or admonition markers."""
    s = sentence.strip()
    if s.startswith(("#", "```", "|", "!!!", "///", "<", "{", ":::", "---")) or "{#" in s:
        return False
    return len(re.findall(r"[A-Za-z]{2,}|[\u4e00-\u9fff]", s)) >= 4


# A line starting with inline code ("`ValidationError` is raised") or emphasis ("*instance*
# methods") is prose; a fence or a list item is not.
_BLOCK_START_RE = re.compile(r"[ \t]*([-*+]\s|[#|><{:!/]|```|\d+[.)]\s|$)")
_LIST_ITEM_RE = re.compile(r"[ \t]*([-*+]|\d+[.)])\s+\S")


def _unwrap(text: str) -> str:
    """The text with line breaks inside paragraphs and list items turned into spaces (Markdown
    sources are often wrapped at ~100 characters), one character for one, so positions stay the
    same. A break is kept after a sentence end or colon, outside prose (fences, headings, tables)
    and before a line that starts a block (the next list item among them)."""
    lines = text.split("\n")
    out = []
    in_fence = False
    for line, nxt in zip(lines, [*lines[1:], ""], strict=True):
        fence = line.lstrip().startswith("```")
        in_fence ^= fence
        text_line = _LIST_ITEM_RE.match(line) or not _BLOCK_START_RE.match(line)
        prose = not (in_fence or fence) and line.strip() and text_line
        soft = prose and not line.rstrip().endswith((".", "!", "?", ":", "。", "！", "？"))
        out.append(line + (" " if soft and not _BLOCK_START_RE.match(nxt) else "\n"))
    return "".join(out)[: len(text)]


def best_quote(
    passage_text: str,
    support: Sequence[str] = (),
    *,
    limit: int = QUOTE_CHARS,
    embedder: BaseEmbedder | None = None,
    following: int = 0,
) -> str:
    """A verbatim sentence of the passage: the one sharing most terms with the answer
    sentences that cite it (the first prose sentence when there is no support), or with an
    embedder the one closest to them in meaning. Sentences are read across wrapped lines, so a
    quote may hold the passage's own line break. With `following`, up to that many prose
    sentences that come right after it are quoted too (each within `limit`)."""
    flat = _unwrap(passage_text)
    quote = _best_sentence(flat, support, limit, embedder)
    at = flat.find(quote)  # the same span of the passage, line breaks and all
    if at < 0:
        return quote
    end = at + len(quote)
    for _ in range(following):
        nxt = next((s for s in split_sentences(flat[end:]) if s.strip()), "")
        body = nxt.strip().lstrip("-*> ").strip()
        if not body or not _quotable(body) or len(body) > limit:
            break
        end = flat.find(body, end) + len(body)
    return passage_text[at:end]


def _best_sentence(
    passage_text: str, support: Sequence[str], limit: int, embedder: BaseEmbedder | None
) -> str:
    candidates = [s.strip() for s in split_sentences(passage_text)]
    candidates = [s.lstrip("-*> ").strip() for s in candidates]
    candidates = [s for s in candidates if _quotable(s)] or [s for s in candidates if s]
    if not candidates:
        return passage_text[:limit].strip()
    want = Counter(t for s in support for t in tokenize(s))
    if embedder is not None and support and len(candidates) > 1:
        sims = embedder.embed_documents(candidates) @ embedder.embed_query(" ".join(support))
        best = candidates[int(np.argmax(sims))]
    elif want:
        best = max(candidates, key=lambda c: (sum(want[t] > 0 for t in set(tokenize(c))), -len(c)))
    else:
        best = candidates[0]
    if len(best) > limit:
        cut = best[:limit]
        best = cut[: cut.rfind(" ")] if " " in cut else cut
    return best  # a substring of the passage: never reworded


def citation_for(n: int, hit: Hit, support: Sequence[str] = ()) -> Citation:
    """The quote is verbatim from the text the model was shown: site markup such as
    "[`model_dump()`][pydantic.BaseModel.model_dump]" or "<br>" is left out, as in the passage."""
    quote = best_quote(plain_markup(hit.text), support)
    return Citation(n=n, path=hit.path, url=hit.url, title=hit.title or hit.path, quote=quote)


def closest_links(hits: Sequence[Hit], k: int = CLOSEST_LINKS) -> list[Citation]:
    """The top distinct pages, for refusals and errors."""
    out: list[Citation] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.path in seen:
            continue
        seen.add(hit.path)
        out.append(citation_for(len(out) + 1, hit))
        if len(out) == k:
            break
    return out
