"""Heading-aware Markdown chunking.

A document is cut into sections at headings; each section's blocks (paragraphs, lists,
fenced code) are packed into chunks of roughly `target_tokens`..`max_tokens`. A chunk
never spans two sections and a fenced code block is never split. Each chunk keeps the
heading breadcrumb ("Tutorial > CORS > Use CORSMiddleware") and the anchor of its section.
MkDocs admonitions (`!!! note`), content tabs (`=== "Python 3.10+"`), Docusaurus
admonitions (`:::tip`) and front matter are unwrapped into plain Markdown first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE_RE = re.compile(r"^(\s*)(`{3,}|~{3,})")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)\s*$")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ADMONITION_RE = re.compile(r'^(\s*)(!!!|\?\?\?\+?)\s*([\w-]+)(?:\s+"([^"]*)")?\s*$')
_TAB_RE = re.compile(r'^(\s*)===!?\s+"([^"]*)"\s*$')
# Docusaurus `:::tip Title` and pymdownx blocks `/// tip | Title` (FastAPI docs).
_DOCUSAURUS_RE = re.compile(r"^\s*(?::::|///)\s*([\w-]+)?\s*\|?\s*(.*)$")
_MKDOCSTRINGS_RE = re.compile(r"^\s*:::\s+([A-Za-z_][\w]*(?:\.[\w]+)+)\s*$")
_ATTR_LIST_RE = re.compile(r"\s*\{\s*#([\w-]+)[^}]*\}\s*$")
_HTML_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_WORD_RE = re.compile(r"[\u3400-\u9fff]|[A-Za-z0-9_]+")


def count_tokens(text: str) -> int:
    """Cheap token estimate: words, plus one per CJK character."""
    return len(_WORD_RE.findall(text))


def slugify(heading: str) -> str:
    """MkDocs-style anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*|_{2,}", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[\s]+", "-", text).strip("-")


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]
    anchor: str
    blocks: tuple[str, ...]


@dataclass(frozen=True)
class TextChunk:
    text: str
    breadcrumb: str
    anchor: str


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Strip YAML front matter; return its simple `key: value` lines and the body."""
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end == -1:
        return {}, text
    meta: dict[str, str] = {}
    for line in text[3:end].splitlines():
        if ":" in line and not line.startswith((" ", "\t")):
            key, _, value = line.partition(":")
            meta[key.strip()] = value.strip().strip("'\"")
    return meta, text[end + 4 :].lstrip("\n")


def closes_fence(line: str, opener: str) -> bool:
    """CommonMark: same character, at least as long as the opener, nothing after it."""
    m = _FENCE_RE.match(line)
    return bool(
        m
        and m.group(2)[0] == opener[0]
        and len(m.group(2)) >= len(opener)
        and not line.strip()[len(m.group(2)) :].strip()
    )


def _dedent(lines: list[str], indent: int) -> list[str]:
    return [ln[indent:] if ln[:indent].strip() == "" else ln.lstrip() for ln in lines]


def unwrap_containers(text: str) -> str:
    """Turn admonitions and tabs into plain text so their content chunks like any other."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    in_fence = ""
    while i < len(lines):
        line = lines[i]
        if in_fence:
            if closes_fence(line, in_fence):
                in_fence = ""
            out.append(line)
            i += 1
            continue
        fence = _FENCE_RE.match(line)
        if fence:
            in_fence = fence.group(2)
            out.append(line)
            i += 1
            continue
        adm, tab = _ADMONITION_RE.match(line), _TAB_RE.match(line)
        if adm or tab:
            base = len((adm or tab).group(1))  # type: ignore[union-attr]
            label = (
                f"{adm.group(3).capitalize()}: {adm.group(4) or ''}".strip() if adm else f"{tab.group(2)}:"
            )  # type: ignore[union-attr]
            body: list[str] = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base):
                body.append(lines[i])
                i += 1
            indents = [len(b) - len(b.lstrip()) for b in body if b.strip()]
            out.extend(["", label.rstrip(":") + ":", ""])
            out.extend(
                unwrap_containers("\n".join(_dedent(body, min(indents) if indents else 0))).splitlines()
            )
            continue
        api = _MKDOCSTRINGS_RE.match(line)
        if api:  # mkdocstrings reference directive: the documented symbol is what people search
            out.append(f"`{api.group(1)}`")
            i += 1
            continue
        doc = _DOCUSAURUS_RE.match(line)
        if doc:
            kind, title = doc.group(1), doc.group(2).strip()
            if kind:
                out.extend(["", f"{kind.capitalize()}: {title}".strip(), ""])
            i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def parse_sections(markdown: str, *, title: str = "") -> list[Section]:
    """Split Markdown into sections at headings, keeping fenced code blocks whole."""
    text = unwrap_containers(_HTML_COMMENT_RE.sub("", markdown))
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    anchor = ""
    blocks: list[str] = []
    para: list[str] = []
    fence_lines: list[str] = []
    fence_mark = ""

    def flush_para() -> None:
        if para and "".join(para).strip():
            blocks.append("\n".join(para).strip("\n"))
        para.clear()

    def close_section() -> None:
        flush_para()
        heads = tuple(h for _, h in stack)
        if blocks:
            sections.append(Section(heads if heads else ((title,) if title else ()), anchor, tuple(blocks)))
        blocks.clear()

    for line in text.splitlines():
        if fence_mark:
            fence_lines.append(line)
            if closes_fence(line, fence_mark):
                blocks.append("\n".join(fence_lines))
                fence_lines, fence_mark = [], ""
            continue
        m = _FENCE_RE.match(line)
        if m:
            flush_para()
            fence_mark, fence_lines = m.group(2), [line]
            continue
        h = _HEADING_RE.match(line)
        setext = _SETEXT_RE.match(line) if len(para) == 1 and not h else None
        if setext:  # "Title\n=====" (h1) or "Title\n-----" (h2) under a one-line paragraph
            heading_line = para.pop()
            level = 1 if setext.group(1)[0] == "=" else 2
            h = _HEADING_RE.match("#" * level + " " + heading_line.strip())
        if h:
            close_section()
            level, heading = len(h.group(1)), h.group(2)
            custom = _ATTR_LIST_RE.search(heading)
            heading = _ATTR_LIST_RE.sub("", heading).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
            anchor = custom.group(1) if custom else slugify(heading)
            continue
        if not line.strip():
            flush_para()
        else:
            para.append(line)
    if fence_mark:  # unterminated fence: keep what we have as one block
        blocks.append("\n".join(fence_lines))
    close_section()
    return sections


# Sentence ends: Latin punctuation followed by whitespace, or CJK punctuation.
_SENTENCE_END_RE = re.compile(r"(?<=[.!?;:])\s+|(?<=[。！？；])")


def _units(text: str, max_tokens: int) -> list[str]:
    """Pieces of `text` (lines, else sentences, else words) that concatenate back to it."""
    for pattern in (r"(?<=\n)", _SENTENCE_END_RE.pattern, r"(?<=\s)", r"(?<=[\u3400-\u9fff])"):
        bounds = [m.end() for m in re.finditer(pattern, text) if 0 < m.end() < len(text)]
        if bounds:
            cuts = [0, *bounds, len(text)]
            units = [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
            out: list[str] = []
            for unit in units:
                out += _units(unit, max_tokens) if count_tokens(unit) > max_tokens else [unit]
            return out
    return [text]


def _split_long_block(block: str, max_tokens: int) -> list[str]:
    """Split an over-long prose block at line, then sentence, then word boundaries."""
    parts: list[str] = []
    current = ""
    for unit in _units(block, max_tokens):
        if current and count_tokens(current + unit) > max_tokens:
            parts.append(current.strip())
            current = ""
        current += unit
    if current.strip():
        parts.append(current.strip())
    return [p for p in parts if p]


@dataclass(frozen=True)
class _Piece:
    headings: tuple[str, ...]
    anchor: str
    text: str
    tokens: int


def _pack_section(section: Section, target_tokens: int, max_tokens: int) -> list[_Piece]:
    pieces: list[_Piece] = []
    current: list[str] = []
    size = 0
    for block in section.blocks:
        is_code = bool(_FENCE_RE.match(block))
        fits = is_code or count_tokens(block) <= max_tokens
        parts = [block] if fits else _split_long_block(block, max_tokens)
        for part in parts:
            n = count_tokens(part)
            # Close the chunk when adding would overflow, or when it is already big enough
            # and the next part is prose (keeps code next to the prose that introduces it).
            if current and (size + n > max_tokens or (size >= target_tokens and not is_code)):
                pieces.append(_Piece(section.headings, section.anchor, "\n\n".join(current), size))
                current, size = [], 0
            current.append(part)
            size += n
    if current:
        pieces.append(_Piece(section.headings, section.anchor, "\n\n".join(current), size))
    return pieces


def _common_prefix(tuples: list[tuple[str, ...]]) -> tuple[str, ...]:
    prefix = tuples[0]
    for t in tuples[1:]:
        n = 0
        while n < min(len(prefix), len(t)) and prefix[n] == t[n]:
            n += 1
        prefix = prefix[:n]
    return prefix


def _render_group(group: list[_Piece]) -> TextChunk:
    """One chunk from consecutive pieces; sub-headings below the shared breadcrumb go in the text."""
    if len(group) == 1:
        return TextChunk(group[0].text, " > ".join(group[0].headings), group[0].anchor)
    common = _common_prefix([p.headings for p in group])
    parts: list[str] = []
    shown = common
    for piece in group:
        i = len(_common_prefix([shown, piece.headings]))
        parts += [f"{'#' * min(j + 1, 6)} {piece.headings[j]}" for j in range(i, len(piece.headings))]
        shown = piece.headings
        parts.append(piece.text)
    return TextChunk("\n\n".join(parts), " > ".join(common), group[0].anchor)


def _merge_small(pieces: list[_Piece], min_tokens: int, max_tokens: int) -> list[list[_Piece]]:
    """Join a piece below `min_tokens` with its neighbour while the pair fits in `max_tokens`.

    Many doc sections are a sentence or two; alone they make weak chunks, so a short section
    joins the next one (its heading kept in the text) rather than standing alone.
    """
    groups: list[list[_Piece]] = []
    size = 0
    for piece in pieces:
        if groups and (size < min_tokens or piece.tokens < min_tokens):
            # Measure the rendered text: the sub-headings it gains count too.
            merged = count_tokens(_render_group([*groups[-1], piece]).text)
            if merged <= max_tokens:
                groups[-1].append(piece)
                size = merged
                continue
        groups.append([piece])
        size = piece.tokens
    return groups


def chunk_sections(
    sections: list[Section], *, target_tokens: int = 250, max_tokens: int = 400, min_tokens: int = 0
) -> list[TextChunk]:
    """Pack each section's blocks into chunks; with `min_tokens`, merge short neighbours."""
    pieces = [p for section in sections for p in _pack_section(section, target_tokens, max_tokens)]
    groups = _merge_small(pieces, min_tokens, max_tokens) if min_tokens > 0 else [[p] for p in pieces]
    return [_render_group(g) for g in groups]


def chunk_markdown(
    markdown: str, *, title: str = "", target_tokens: int = 250, max_tokens: int = 400, min_tokens: int = 0
) -> list[TextChunk]:
    return chunk_sections(
        parse_sections(markdown, title=title),
        target_tokens=target_tokens,
        max_tokens=max_tokens,
        min_tokens=min_tokens,
    )


def first_heading(markdown: str) -> str:
    in_fence = False
    for line in markdown.splitlines():
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        elif not in_fence and (h := _HEADING_RE.match(line)):
            return _ATTR_LIST_RE.sub("", h.group(2)).strip()
    return ""
