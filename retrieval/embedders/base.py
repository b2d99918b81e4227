"""Dense embedders turn text into unit-length vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class BaseEmbedder(ABC):
    name: str
    dim: int

    @abstractmethod
    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, L2-normalised."""

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


class SentenceTransformerEmbedder(BaseEmbedder):
    """A sentence-transformers model folder on disk (packaged weights; nothing downloaded)."""

    def __init__(self, folder: str, *, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(folder, device="cpu")
        self._batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(texts, batch_size=self._batch_size, convert_to_numpy=True)
        return l2_normalise(np.asarray(vecs))
