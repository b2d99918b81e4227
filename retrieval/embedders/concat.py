"""Score-level fusion of two embedders inside one vector.

Documents are stored as [u_d, m_d] / sqrt(2) (each part unit length), queries as
[a*u_q, b*m_q] normalised, so cosine = (a*cos_u + b*cos_m) / const: a weighted sum of the
two models' similarities, with weights chosen per query. English questions use both
(MiniLM is the stronger English retriever); Chinese questions use only the multilingual
model, because MiniLM cannot read Chinese (its part would only add noise). The bulk rule
(`detect_lang`) decides, not `question_lang`: a Chinese question that pastes a long English
error keeps MiniLM, which reads the error (eval/results/tried.md).
"""

from __future__ import annotations

import numpy as np

from retrieval.embedders.base import BaseEmbedder, l2_normalise
from retrieval.tokenize import detect_lang


class ConcatEmbedder(BaseEmbedder):
    def __init__(
        self,
        multilingual: BaseEmbedder,
        english: BaseEmbedder,
        *,
        en_weights: tuple[float, float] = (0.5, 1.0),
        zh_weights: tuple[float, float] = (1.0, 0.0),
    ) -> None:
        self.multilingual = multilingual
        self.english = english
        self.name = f"{multilingual.name}+{english.name}"
        self.dim = multilingual.dim + english.dim
        self.en_weights = en_weights
        self.zh_weights = zh_weights

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        both = np.hstack([self.multilingual.embed_documents(texts), self.english.embed_documents(texts)])
        return l2_normalise(both)

    def embed_query(self, text: str) -> np.ndarray:
        a, b = self.zh_weights if detect_lang(text) == "zh" else self.en_weights
        u = self.multilingual.embed_query(text) * a
        m = self.english.embed_query(text) * b if b else np.zeros(self.english.dim, dtype=np.float32)
        return l2_normalise(np.hstack([u, m])[None, :])[0]

    def embed_multilingual(self, texts: list[str]) -> np.ndarray:
        """The cross-lingual part alone (for similarity features in any language)."""
        return self.multilingual.embed_documents(texts)
