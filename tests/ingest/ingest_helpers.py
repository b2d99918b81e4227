"""Helpers for the ingest tests: real PDFs, files in tmp_path, a counting wrapper around the
real embedder, and a store's exact state (point ids and payload hashes)."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from retrieval.embedders import BaseEmbedder
from retrieval.store.edge import EdgeStore


def make_pdf(lines: list[tuple[int, str]]) -> bytes:
    """A small, valid one-page PDF (Helvetica text, correct xref table) from (font size, text)."""
    ops, y = ["BT"], 760
    for size, text in lines:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"/F1 {size} Tf 1 0 0 1 72 {y} Tm ({escaped}) Tj")
        y -= size + 12
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


class CountingEmbedder(BaseEmbedder):
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, inner: BaseEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.texts = 0

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed_documents(texts)


def store_state(store: EdgeStore) -> dict[str, str]:
    """Point id -> hash of its full payload: equal states mean identical stores."""
    out: dict[str, str] = {}
    offset = None
    while True:
        # The store API yields payloads only; the ids come from the shard itself.
        records, offset = store._shard.scroll(
            qe.ScrollRequest(offset=offset, limit=1000, with_payload=True, with_vector=False)
        )
        for rec in records:
            out[str(rec.id)] = _payload_hash(dict(rec.payload or {}))
        if offset is None:
            return out


def _payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def paths_in(store: EdgeStore, project: str) -> dict[str, int]:
    """path -> number of chunks stored for it."""
    counts: dict[str, int] = {}
    for payload in store.payloads(project):
        counts[payload["path"]] = counts.get(payload["path"], 0) + 1
    return counts


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def section_doc(name: str, sections: int = 4, words: int = 120, seed: int = 0) -> str:
    """A Markdown page with `sections` sections of about `words` words each, distinct per name."""
    rng = np.random.default_rng(zlib.crc32(f"{name}/{seed}".encode()))
    vocab = (
        "install configure server request response model field validator schema token index query "
        "cache worker async route middleware header cookie session database migration deploy docker "
        "test fixture client plugin option default value error retry timeout logging metrics"
    ).split()
    parts = [f"# {name.replace('-', ' ').title()}", f"This page is about {name}."]
    for s in range(sections):
        parts.append(f"## {name} part {s}")
        parts.append(" ".join(rng.choice(vocab, size=words)) + ".")
    return "\n\n".join(parts) + "\n"
