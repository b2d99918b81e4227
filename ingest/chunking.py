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
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ADMONITION_RE = re.compile(r'^(\s*)(!!!|\?\?\?\+?)\s*([\w-]+)(?:\s+"([^"]*)")?\s*$')
_TAB_RE = re.compile(r'^(\s*)===!?\s+"([^"]*)"\s*$')
# Docusaurus `:::tip Title` and pymdownx blocks `/// tip | Title` (FastAPI docs).
_DOCUSAURUS_RE = re.compile(r"^\s*(?::::|///)\s*([\w-]+)?\s*\|?\s*(.*)$")
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
        fence = _FENCE_RE.match(line)
        if fence and (not in_fence or fence.group(2).startswith(in_fence[:3])):
            in_fence = "" if in_fence else fence.group(2)
            out.append(line)
            i += 1
            continue
        if in_fence:
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
            m = _FENCE_RE.match(line)
            if (
                m
                and m.group(2)[0] == fence_mark[0]
                and len(m.group(2)) >= len(fence_mark)
                and not line.strip()[len(m.group(2)) :].strip()
            ):
                blocks.append("\n".join(fence_lines))
                fence_lines, fence_mark = [], ""
            continue
        m = _FENCE_RE.match(line)
        if m:
            flush_para()
            fence_mark, fence_lines = m.group(2), [line]
            continue
        h = _HEADING_RE.match(line)
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


def _split_long_block(block: str, max_tokens: int) -> list[str]:
    """Split an over-long prose block at line, then sentence boundaries."""
    units = block.splitlines() if "\n" in block else re.split(r"(?<=[.!?。！？])\s*", block)
    parts: list[str] = []
    current: list[str] = []
    for unit in units:
        if current and count_tokens("\n".join(current + [unit])) > max_tokens:
            parts.append("\n".join(current))
            current = []
        current.append(unit)
    if current:
        parts.append("\n".join(current))
    return [p for p in parts if p.strip()]


def chunk_sections(
    sections: list[Section], *, target_tokens: int = 250, max_tokens: int = 400
) -> list[TextChunk]:
    chunks: list[TextChunk] = []
    for section in sections:
        breadcrumb = " > ".join(section.headings)
        current: list[str] = []
        size = 0
        for block in section.blocks:
            is_code = bool(_FENCE_RE.match(block))
            pieces = (
                [block]
                if is_code or count_tokens(block) <= max_tokens
                else _split_long_block(block, max_tokens)
            )
            for piece in pieces:
                n = count_tokens(piece)
                # Close the chunk when adding would overflow, or when it is already big enough
                # and the next piece is code (keeps code next to the prose that introduces it).
                if current and (size + n > max_tokens or (size >= target_tokens and not is_code)):
                    chunks.append(TextChunk("\n\n".join(current), breadcrumb, section.anchor))
                    current, size = [], 0
                current.append(piece)
                size += n
        if current:
            chunks.append(TextChunk("\n\n".join(current), breadcrumb, section.anchor))
    return chunks


def chunk_markdown(
    markdown: str, *, title: str = "", target_tokens: int = 250, max_tokens: int = 400
) -> list[TextChunk]:
    return chunk_sections(
        parse_sections(markdown, title=title), target_tokens=target_tokens, max_tokens=max_tokens
    )


def first_heading(markdown: str) -> str:
    in_fence = False
    for line in markdown.splitlines():
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        elif not in_fence and (h := _HEADING_RE.match(line)):
            return _ATTR_LIST_RE.sub("", h.group(2)).strip()
    return ""
