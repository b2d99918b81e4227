"""The training side's view of a project's chunks: read once from the store, keyed by a hash
of their text (the key the serving side also computes from a Hit)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from retrieval.store.base import BaseStore


def text_key(text: str) -> str:
    """Stable id for a passage text; the same value from a payload and from a Hit."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Passage:
    key: str
    path: str
    title: str
    breadcrumb: str
    text: str
    source_type: str
    lang: str
    index: int

    @property
    def heading(self) -> str:
        """The innermost heading of the chunk (last breadcrumb part), or the title."""
        parts = [p.strip() for p in self.breadcrumb.split(">") if p.strip()]
        return parts[-1] if parts else self.title


def passage_from_payload(payload: dict[str, Any]) -> Passage:
    text = str(payload.get("text", ""))
    return Passage(
        key=text_key(text),
        path=str(payload.get("path", "")),
        title=str(payload.get("title", "")),
        breadcrumb=str(payload.get("breadcrumb", "")),
        text=text,
        source_type=str(payload.get("source_type", "doc")),
        lang=str(payload.get("lang", "")),
        index=int(payload.get("index", 0) or 0),
    )


def load_passages(store: BaseStore, project: str) -> list[Passage]:
    """Every chunk of a project in (path, index) order; a text repeated in several files
    is kept once, at its first path."""
    seen: set[str] = set()
    out = []
    everything = sorted(map(passage_from_payload, store.payloads(project)), key=lambda p: (p.path, p.index))
    for p in everything:
        if p.key not in seen and p.text.strip():
            seen.add(p.key)
            out.append(p)
    return out


def pair_text(breadcrumb: str, title: str, text: str) -> str:
    """What the cross-encoder reads for a passage: where it sits, then what it says."""
    head = breadcrumb or title
    return f"{head}\n{text}" if head else text
