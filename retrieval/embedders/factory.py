"""Embedders by name (EMBEDDING_MODEL). A new backend adds one line here."""

from __future__ import annotations

from collections.abc import Callable

from retrieval.embedders.base import BaseEmbedder

_CACHE: dict[str, BaseEmbedder] = {}


def _use() -> BaseEmbedder:
    from retrieval.embedders.use import USEEmbedder

    return USEEmbedder()


def _minilm() -> BaseEmbedder:
    from retrieval.embedders.minilm import MiniLMEmbedder

    return MiniLMEmbedder()


def _concat() -> BaseEmbedder:
    from retrieval.embedders.concat import ConcatEmbedder

    return ConcatEmbedder(create_embedder("use-multilingual"), create_embedder("minilm"))


EMBEDDERS: dict[str, Callable[[], BaseEmbedder]] = {
    "use+minilm": _concat,
    "use-multilingual": _use,
    "minilm": _minilm,
}


def create_embedder(name: str) -> BaseEmbedder:
    """Load once per process: models are large and read-only."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedding model {name!r}; choose one of {sorted(EMBEDDERS)}")
    if name not in _CACHE:
        _CACHE[name] = EMBEDDERS[name]()
    return _CACHE[name]
