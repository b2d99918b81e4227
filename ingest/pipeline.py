"""Incremental, idempotent ingest of Documents into the store.

The store is the source of truth: every chunk carries its document's `doc_hash`, and point
ids are derived from (project, path, chunk index, doc_hash). So:
- an unchanged document (exactly its current version stored, with every chunk) is skipped:
  nothing embedded, nothing written;
- a changed document is upserted under its new hash, then chunks with any other hash for
  that path are deleted;
- the hash covers the text *and* how it is indexed (chunking, URL template, BM25 parameters,
  INDEX_VERSION), so changing any of them re-indexes every document on the next run;
- a run killed at any point leaves old and/or new versions that the next run resolves the
  same way, ending in the state of a clean run.

    ingester = Ingester(store=store, embedder=embedder)
    report = ingester.ingest("fastapi", iter_folder(Path("docs")), scope=("doc",))
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from ingest.chunking import chunk_markdown, count_tokens
from ingest.sources import Skipped
from ingest.types import Chunk, Document, IngestReport, sha256_text
from retrieval.embedders.base import BaseEmbedder
from retrieval.sparse import BM25Params, document_vector
from retrieval.store.base import BaseStore, StorePoint
from retrieval.tokenize import detect_lang

# Bump when a code change alters the chunks or vectors built from the same text (chunker,
# parsers' output, tokeniser): stored documents then count as changed and are re-indexed.
INDEX_VERSION = 2


@dataclass(frozen=True)
class ChunkParams:
    target_tokens: int = 250
    max_tokens: int = 400
    # Sections shorter than this join a neighbour (0 = every section stands alone).
    min_tokens: int = 50


def render_url(template: str, *, path: str, anchor: str) -> str:
    if not template:
        return f"{path}#{anchor}" if anchor else path
    url = template.replace("{path}", path).replace("{anchor}", anchor)
    return url.rstrip("#")


def chunk_document(
    project: str,
    doc: Document,
    *,
    url_template: str = "",
    params: ChunkParams = ChunkParams(),
    doc_hash: str = "",
) -> list[Chunk]:
    """`doc_hash` identifies this indexed version of the document (default: its text hash)."""
    if doc.format == "markdown":
        pieces = chunk_markdown(doc.text, title=doc.title, **vars(params))
    else:
        from ingest.chunking import Section, chunk_sections

        paras = tuple(p.strip() for p in doc.text.split("\n\n") if p.strip())
        pieces = chunk_sections([Section((doc.title,) if doc.title else (), "", paras)], **vars(params))
    chunks = []
    for i, piece in enumerate(p for p in pieces if count_tokens(p.text) > 0):
        url = doc.url or render_url(url_template, path=doc.path, anchor=piece.anchor)
        if doc.url and piece.anchor and "#" not in doc.url and doc.source_type == "doc":
            url = f"{doc.url}#{piece.anchor}"
        chunks.append(
            Chunk(
                project=project,
                path=doc.path,
                text=piece.text,
                breadcrumb=piece.breadcrumb or doc.title,
                title=doc.title,
                url=url,
                source_type=doc.source_type,
                lang=detect_lang(piece.text),
                doc_hash=doc_hash or doc.content_hash,
                index=i,
                updated_at=doc.updated_at,
                anchor=piece.anchor,
            )
        )
    return chunks


_DEFAULT_BM25 = BM25Params()


class Ingester:
    def __init__(
        self,
        *,
        store: BaseStore,
        embedder: BaseEmbedder,
        chunk_params: ChunkParams = ChunkParams(),
        bm25: BM25Params = _DEFAULT_BM25,
        url_template: str = "",
        batch_chunks: int = 64,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_params = chunk_params
        self.bm25 = bm25
        self.url_template = url_template
        self.batch_chunks = batch_chunks
        recipe = {
            "v": INDEX_VERSION,
            "chunking": asdict(chunk_params),
            "url": url_template,
            "bm25": asdict(bm25),
        }
        self._recipe = sha256_text(json.dumps(recipe, sort_keys=True))

    def doc_hash(self, doc: Document) -> str:
        """The stored version of a document: its text and how it is indexed."""
        return sha256_text(f"{doc.content_hash}:{self._recipe}")

    def ingest(
        self,
        project: str,
        documents: Iterable[Document | Skipped],
        *,
        scope: tuple[str, ...] = ("doc",),
        prune: bool = True,
        on_document: Callable[[str], None] | None = None,
    ) -> IngestReport:
        """Bring the project's documents of the `scope` source types in line with `documents`.

        With `prune`, stored documents of those types that were not seen are deleted.
        """
        start = time.perf_counter()
        report = IngestReport()
        stored = self.store.doc_hashes(project, scope)
        seen: set[str] = set()
        pending: list[tuple[Document, str, list[Chunk]]] = []
        pending_size = 0

        for item in documents:
            if on_document:
                on_document(item.path)
            report.files += 1
            if isinstance(item, Skipped):
                report.errors.append((item.path, item.reason))
                seen.add(item.path)  # keep what was indexed before; a broken file must not wipe it
                continue
            seen.add(item.path)
            version = self.doc_hash(item)
            chunks = chunk_document(
                project, item, url_template=self.url_template, params=self.chunk_params, doc_hash=version
            )
            # Unchanged only if this exact version is stored completely (a killed run may have
            # written part of it); chunking is deterministic, so the counts must agree.
            if stored.get(item.path, {}) == ({version: len(chunks)} if chunks else {}):
                if chunks:
                    report.unchanged += 1
                else:  # a stub page (a title, a toctree): nothing to index, now or before
                    report.empty += 1
                continue
            pending.append((item, version, chunks))
            pending_size += len(chunks)
            if pending_size >= self.batch_chunks:
                self._write(project, pending, stored, report)
                pending, pending_size = [], 0
        self._write(project, pending, stored, report)

        if prune:
            for path in sorted(set(stored) - seen):
                self.store.delete_path(project, path)
                report.docs_deleted += 1
                report.chunks_deleted += sum(stored[path].values())
        self.store.flush()
        report.seconds = time.perf_counter() - start
        return report

    def _write(
        self,
        project: str,
        batch: list[tuple[Document, str, list[Chunk]]],
        stored: dict[str, dict[str, int]],
        report: IngestReport,
    ) -> None:
        chunks = [c for _, _, cs in batch for c in cs]
        if chunks:
            t0 = time.perf_counter()
            vectors = self.embedder.embed_documents([c.indexed_text() for c in chunks])
            report.embed_seconds += time.perf_counter() - t0
            points = [
                StorePoint(c.id, vec, document_vector(c.indexed_text(), self.bm25), c.payload())
                for c, vec in zip(chunks, vectors, strict=True)
            ]
            self.store.upsert(points)
        for doc, version, cs in batch:
            # Only after the new version is stored: remove every other version of this path.
            old = {h: n for h, n in stored.get(doc.path, {}).items() if h != version}
            if old:
                self.store.delete_path(project, doc.path, except_doc_hash=version)
                report.chunks_deleted += sum(old.values())
            report.docs_updated += 1
            report.chunks_added += len(cs)
