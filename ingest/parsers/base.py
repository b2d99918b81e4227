"""Parsers turn one file into a Document. A new file type is one module plus one
`register()` line in `ingest/parsers/__init__.py`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ingest.errors import ParseError
from ingest.types import Document

MAX_FILE_BYTES = 20 * 1024 * 1024


class BaseParser(ABC):
    suffixes: tuple[str, ...] = ()

    @abstractmethod
    def parse(self, path: Path, rel_path: str) -> Document:
        """Raise ParseError for unreadable or malformed input."""


def read_bytes(path: Path, rel_path: str) -> bytes:
    """Read a file of bounded size; unreadable or huge files are ParseErrors."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ParseError(rel_path, f"larger than {MAX_FILE_BYTES // 2**20} MB")
        return path.read_bytes()
    except OSError as exc:
        raise ParseError(rel_path, f"cannot read file: {exc.strerror or exc}") from exc


def read_text(path: Path, rel_path: str) -> str:
    """Read a text file strictly: binary content or bad encodings are ParseErrors."""
    data = read_bytes(path, rel_path)
    if b"\x00" in data[:8192]:
        raise ParseError(rel_path, "binary content in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(rel_path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
