"""Builds the long-lived parts from Settings. The CLI and the app lifespan both call this,
so there is one place that decides which store, embedder and reranker run."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ingest.manifest import check_manifest, forget_project, read_manifest, record_ingest
from ingest.pipeline import ChunkParams, Ingester
from ingest.run import run_ingest
from ingest.types import IngestReport
from retrieval import HybridRetriever, RetrievalParams
from retrieval.embedders import BaseEmbedder, create_embedder
from retrieval.rerank.cross_encoder import MANIFEST, model_dir, work_dir
from retrieval.rerank.factory import create_reranker
from retrieval.store import BaseStore, open_store
from service.settings import Settings


@dataclass(frozen=True)
class ProjectDeletion:
    chunks: int  # chunks removed from the index
    reranker: bool  # a trained reranker (and its threshold) was removed


@dataclass
class Components:
    settings: Settings
    store: BaseStore
    embedder: BaseEmbedder
    retriever: HybridRetriever

    def ingester(self, url_template: str | None = None) -> Ingester:
        s = self.settings
        return Ingester(
            store=self.store,
            embedder=self.embedder,
            chunk_params=ChunkParams(s.chunk_target_tokens, s.chunk_max_tokens, s.chunk_min_tokens),
            url_template=s.url_template if url_template is None else url_template,
        )

    def ingest(
        self,
        project: str,
        *,
        path: Path | None = None,
        discussions: Path | None = None,
        url_template: str | None = None,
        progress: bool = False,
    ) -> IngestReport:
        """Run one ingest job and record it in the manifest."""
        try:
            report = run_ingest(
                self.ingester(url_template), project, path=path, discussions=discussions, progress=progress
            )
        finally:
            self.store.changed()  # even a failed job may have written part of its files
        documents: dict[str, str] = {}
        for p, hashes in self.store.doc_hashes(project).items():
            documents[p] = ",".join(sorted(hashes))
        summary = {k: v for k, v in vars(report).items() if k != "errors"} | {"errors": len(report.errors)}
        record_ingest(Path(self.settings.ossqa_data_dir), project, summary, documents)
        return report

    def delete_project(self, project: str) -> ProjectDeletion | None:
        """Remove a project's chunks, its manifest entry and its trained reranker; None when
        the data dir holds nothing of it. Conversations, feedback and the question log are kept:
        they are the users' history, still worth reading if the project is ingested again."""
        data_dir = Path(self.settings.ossqa_data_dir)
        chunks = self.store.count(project)
        reranker = model_dir(data_dir, project).exists()
        work = work_dir(data_dir, project)
        known = chunks or reranker or work.exists() or project in read_manifest(data_dir).get("projects", {})
        if not known:
            return None
        self.store.delete_project(project)
        self.store.flush()
        self.store.changed()
        forget_project(data_dir, project)
        # The manifest goes first: a request arriving during the removal sees no model at
        # once instead of loading a half-removed folder.
        (model_dir(data_dir, project) / MANIFEST).unlink(missing_ok=True)
        self.retriever.reranker.forget(project)
        # Only the folders training writes: models/ also holds shared models, and a project may
        # share a name with one of them.
        for folder in (model_dir(data_dir, project), work):
            shutil.rmtree(folder, ignore_errors=True)
        if work.parent.exists() and not any(work.parent.iterdir()):
            work.parent.rmdir()
        return ProjectDeletion(chunks=chunks, reranker=reranker)

    def close(self) -> None:
        self.store.flush()
        self.store.close()


def retrieval_params(settings: Settings) -> RetrievalParams:
    return RetrievalParams(
        prefetch_limit=settings.prefetch_limit,
        rerank_top_n=settings.rerank_top_n,
        fusion=settings.fusion,
        rrf_k=settings.rrf_k,
        changelog_demotion=settings.changelog_demotion,
    )


def build_components(settings: Settings, *, embedder: BaseEmbedder | None = None) -> Components:
    data_dir = Path(settings.ossqa_data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    embedder = embedder or create_embedder(settings.embedding_model)
    check_manifest(
        data_dir,
        {
            "embedding_model": embedder.name,
            "dim": embedder.dim,
            "collection": settings.qdrant_collection,
            "qdrant_url": settings.qdrant_url,
            "chunking": {
                "target_tokens": settings.chunk_target_tokens,
                "max_tokens": settings.chunk_max_tokens,
                "min_tokens": settings.chunk_min_tokens,
                "overlap_tokens": 0,
            },
        },
    )
    store = open_store(
        data_dir=data_dir,
        dim=embedder.dim,
        collection=settings.qdrant_collection,
        url=settings.qdrant_url,
        api_key=settings.qdrant_api_key,
    )
    retriever = HybridRetriever(store=store, embedder=embedder, params=retrieval_params(settings))
    # The trained per-project cross-encoder loads lazily; untrained projects keep the fused order.
    retriever.reranker = create_reranker(
        settings.reranker,
        data_dir=data_dir,
        embedder=embedder,
        threads=settings.rerank_threads,
        en_max_length=settings.rerank_max_length_en,
        ce_top_n=settings.rerank_ce_top_n,
    )
    return Components(settings=settings, store=store, embedder=embedder, retriever=retriever)
