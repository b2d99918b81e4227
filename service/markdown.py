"""Markdown-aware text helpers shared by the answer pipeline and the chat bridges: code is shown
byte for byte, so whatever rewrites an answer's prose (citation markers, links) must skip it."""

from __future__ import annotations

import re
from collections.abc import Callable

FENCE_RE = re.compile(r"```.*?(?:```|$)", re.S)
CODE_SPAN_RE = re.compile(r"`[^`\n]+`")
CODE_RE = re.compile(f"({FENCE_RE.pattern}|{CODE_SPAN_RE.pattern})", re.S)


def outside_code(text: str, change: Callable[[str], str]) -> str:
    """`change` applied to the prose of `text`; fenced blocks and inline code spans stay as they
    are (in `items[1]` the [1] is an index, not a citation)."""
    parts = CODE_RE.split(text)  # odd indexes are code
    return "".join(part if i % 2 else change(part) for i, part in enumerate(parts))
