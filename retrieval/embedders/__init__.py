from retrieval.embedders.base import BaseEmbedder
from retrieval.embedders.factory import create_embedder

__all__ = ["BaseEmbedder", "create_embedder"]
