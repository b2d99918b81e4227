from __future__ import annotations

from pathlib import Path

from ingest.chunking import first_heading, split_front_matter
from ingest.parsers.base import BaseParser, read_text
from ingest.types import Document


class MarkdownParser(BaseParser):
    """Markdown and MDX: front matter gives the title when present."""

    suffixes = (".md", ".mdx", ".markdown")

    def parse(self, path: Path, rel_path: str) -> Document:
        raw = read_text(path, rel_path)
        meta, body = split_front_matter(raw)
        title = meta.get("title") or first_heading(body) or Path(rel_path).stem
        return Document(path=rel_path, text=body, title=title, updated_at=_mtime(path))


class TextParser(BaseParser):
    suffixes = (".txt",)

    def parse(self, path: Path, rel_path: str) -> Document:
        text = read_text(path, rel_path)
        return Document(
            path=rel_path, text=text, title=Path(rel_path).stem, format="text", updated_at=_mtime(path)
        )


def _mtime(path: Path) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat(timespec="seconds")
