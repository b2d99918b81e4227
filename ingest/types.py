"""Values passed between ingest stages: Document -> Section -> Chunk."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, fields
from typing import Literal

SourceType = Literal["doc", "discussion", "issue"]
SOURCE_TYPES: tuple[str, ...] = ("doc", "discussion", "issue")

# A project name is a URL path segment (/projects/{project}) and a folder name under
# OSSQA_DATA_DIR/models, so the API and the CLI accept the same, safe set.
PROJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
PROJECT_MAX_CHARS = 100

# Fixed namespace so point ids are the same on every machine and every run.
_ID_NAMESPACE = uuid.UUID("6f1d5b1e-2a4e-4d8a-9d3c-0b8f6a1c2e7d")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Document:
    """One unit of knowledge: a file, a discussion or an issue.

    `path` is relative to the ingested root (or `discussions/123` for exports) and is the
    key that re-ingest, deletion and evaluation use.
    """

    path: str
    text: str
    source_type: SourceType = "doc"
    title: str = ""
    url: str = ""
    updated_at: str = ""
    # "markdown" is chunked by headings; "text" is chunked by paragraphs.
    format: Literal["markdown", "text"] = "markdown"

    @property
    def content_hash(self) -> str:
        return sha256_text(self.text)


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage with everything the store keeps as payload."""

    project: str
    path: str
    text: str
    breadcrumb: str
    title: str
    url: str
    source_type: str
    lang: str
    doc_hash: str
    index: int
    updated_at: str = ""
    anchor: str = ""

    @property
    def content_hash(self) -> str:
        return sha256_text(self.text)

    @property
    def id(self) -> str:
        # Deterministic: the same document version always yields the same ids.
        return str(
            uuid.uuid5(_ID_NAMESPACE, f"{self.project}\x1f{self.path}\x1f{self.index}\x1f{self.doc_hash}")
        )

    def indexed_text(self) -> str:
        """Text that is embedded and BM25-indexed: the breadcrumb is searchable too."""
        head = self.breadcrumb or self.title
        return f"{head}\n{self.text}" if head else self.text

    def payload(self) -> dict[str, str | int]:
        return {
            "project": self.project,
            "path": self.path,
            "text": self.text,
            "breadcrumb": self.breadcrumb,
            "title": self.title,
            "url": self.url,
            "source_type": self.source_type,
            "lang": self.lang,
            "content_hash": self.content_hash,
            "doc_hash": self.doc_hash,
            "index": self.index,
            "updated_at": self.updated_at,
            "anchor": self.anchor,
        }


@dataclass
class IngestReport:
    """What one ingest run did; printed as the summary."""

    files: int = 0
    unchanged: int = 0
    empty: int = 0  # read fine, but no text to index
    chunks_added: int = 0
    chunks_deleted: int = 0
    docs_updated: int = 0
    docs_deleted: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: IngestReport) -> None:
        """Fold another run's counts into this one (a folder and an export in one job)."""
        for f in fields(self):
            value = getattr(other, f.name)
            if isinstance(value, list):
                getattr(self, f.name).extend(value)
            else:
                setattr(self, f.name, getattr(self, f.name) + value)

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_added / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [
            f"files: {self.files} ({self.unchanged} unchanged, {self.docs_updated} new/changed, "
            f"{self.docs_deleted} deleted" + (f", {self.empty} without text)" if self.empty else ")"),
            f"chunks: {self.chunks_added} added, {self.chunks_deleted} deleted",
            f"time: {self.seconds:.1f} s ({self.chunks_per_s:.1f} chunks/s)",
        ]
        for path, reason in self.errors:
            lines.append(f"skipped {path}: {reason}")
        return "\n".join(lines)
