"""Baselines over the same files: rank-bm25 (the BM25 reference, same tokeniser and
chunks) and a plain llama-index pipeline with default settings (what a user would write)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.retrieval import SearchFn


def rank_bm25_search(payloads: list[dict[str, Any]]) -> SearchFn:
    from rank_bm25 import BM25Okapi

    from retrieval.tokenize import tokenize

    docs = [f"{p.get('breadcrumb') or p.get('title', '')}\n{p['text']}" for p in payloads]
    bm25 = BM25Okapi([tokenize(d) or ["_"] for d in docs])
    paths = [p["path"] for p in payloads]

    def search(question: str) -> list[str]:
        scores = bm25.get_scores(tokenize(question))
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[:10]
        return [paths[i] for i in order]

    return search


def llama_index_search(corpus: Path, *, top_k: int = 10) -> SearchFn:
    """SimpleDirectoryReader + VectorStoreIndex, default splitter; embeddings from the
    packaged MiniLM (llama-index's default OpenAI embedding cannot run here)."""
    from llama_index.core import Settings as LISettings
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from retrieval.embedders.minilm import minilm_path

    LISettings.embed_model = HuggingFaceEmbedding(model_name=minilm_path(), device="cpu")
    LISettings.llm = None
    reader = SimpleDirectoryReader(
        str(corpus),
        recursive=True,
        required_exts=[".md", ".mdx", ".rst", ".txt", ".html"],
        filename_as_id=True,
    )
    index = VectorStoreIndex.from_documents(reader.load_data())
    retriever = index.as_retriever(similarity_top_k=top_k)
    root = str(Path(corpus).resolve())

    def search(question: str) -> list[str]:
        nodes = retriever.retrieve(question)
        return [str(Path(n.node.metadata["file_path"]).resolve()).removeprefix(root + "/") for n in nodes]

    return search
