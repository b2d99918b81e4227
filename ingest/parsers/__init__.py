"""Parser registry: file suffix -> parser. Built-ins register exactly as a new one would."""

from __future__ import annotations

from ingest.parsers.base import BaseParser
from ingest.parsers.markdown import MarkdownParser, TextParser
from ingest.parsers.unstructured_parser import HtmlParser, PdfParser, RstParser

_PARSERS: dict[str, BaseParser] = {}


def register(parser: BaseParser) -> None:
    for suffix in parser.suffixes:
        _PARSERS[suffix] = parser


def parser_for(suffix: str) -> BaseParser | None:
    return _PARSERS.get(suffix.lower())


def supported_suffixes() -> tuple[str, ...]:
    return tuple(sorted(_PARSERS))


register(MarkdownParser())
register(TextParser())
register(HtmlParser())
register(RstParser())
register(PdfParser())

__all__ = ["BaseParser", "parser_for", "register", "supported_suffixes"]
