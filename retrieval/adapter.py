"""A per-project linear query adapter for the dense channel.

The packaged embedders were never trained on a project's vocabulary. `ossqa train-reranker`
fits a matrix W on the project's own generated queries (the same ones the reranker learns
from) so that normalise(q + qW) lands nearer the chunk each query came from, with a softmax
over every chunk of the project and an L2 pull towards the identity (W = 0), so the adapter
only bends the space where the project's data asks it to. Documents are untouched: nothing
is re-embedded, and a project without an adapter searches exactly as before.

    adapters = QueryAdapters(data_dir)
    vec = adapters.adapt("pydantic", embedder.embed_query("How do I alias a field?"))
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ADAPTER_FILE = "query_adapter.npy"


def adapter_path(data_dir: Path, project: str) -> Path:
    return Path(data_dir) / "models" / project / ADAPTER_FILE


@dataclass(frozen=True)
class AdapterConfig:
    l2: float = 0.01  # pull towards the identity; 0.001 overfits the generated queries
    epochs: int = 50
    lr: float = 1e-3
    temperature: float = 20.0  # cosine scale inside the softmax


DEFAULT_CONFIG = AdapterConfig()


def fit_query_adapter(
    queries: np.ndarray, positives: np.ndarray, docs: np.ndarray, config: AdapterConfig = DEFAULT_CONFIG
) -> np.ndarray:
    """W (dim x dim) minimising cross-entropy of softmax(T * normalise(q + qW) . docs) against each
    query's positive chunk index, plus l2 * |W|^2. Full batch: the project's chunks are the classes."""
    import torch

    torch.manual_seed(0)
    q = torch.tensor(queries, dtype=torch.float32)
    d = torch.tensor(docs, dtype=torch.float32)
    y = torch.tensor(positives, dtype=torch.long)
    w = torch.zeros(q.shape[1], q.shape[1], requires_grad=True)
    opt = torch.optim.Adam([w], lr=config.lr)
    for _ in range(config.epochs):
        adapted = torch.nn.functional.normalize(q + q @ w, dim=-1)
        logits = adapted @ d.T * config.temperature
        loss = torch.nn.functional.cross_entropy(logits, y) + config.l2 * (w**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy()


def apply_adapter(w: np.ndarray, vec: np.ndarray) -> np.ndarray:
    out = vec + vec @ w
    return (out / max(float(np.linalg.norm(out)), 1e-12)).astype(np.float32)


def ranking_quality(queries: np.ndarray, positives: np.ndarray, docs: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and MRR@10 of each query's positive chunk among all chunks."""
    scores = queries @ docs.T
    pos = scores[np.arange(len(positives)), positives]
    ranks = 1 + (scores > pos[:, None]).sum(axis=1)
    return {
        "acc@1": round(float((ranks == 1).mean()), 4),
        "mrr@10": round(float(np.where(ranks <= 10, 1.0 / ranks, 0.0).mean()), 4),
    }


class QueryAdapters:
    """Loads each project's adapter on first use and again when its file changes (a retrain
    while the server runs); a project without one gets its query vector back unchanged."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._cache: dict[str, tuple[float, np.ndarray | None]] = {}
        self._lock = threading.Lock()

    def _get(self, project: str) -> np.ndarray | None:
        path = adapter_path(self.data_dir, project)
        mtime = path.stat().st_mtime if path.exists() else 0.0
        with self._lock:
            cached = self._cache.get(project)
            if cached is None or cached[0] != mtime:
                cached = (mtime, np.load(path) if mtime else None)
                self._cache[project] = cached
        return cached[1]

    def has(self, project: str) -> bool:
        return self._get(project) is not None

    def adapt(self, project: str, vec: np.ndarray) -> np.ndarray:
        w = self._get(project)
        if w is None or w.shape[0] != vec.shape[0]:
            return vec  # none trained, or trained for another embedder
        return apply_adapter(w, vec)
