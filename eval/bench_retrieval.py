"""Benchmark: ingest throughput against raw embedding throughput (same run, same chunks),
and `POST /search` latency at 10k and 100k chunks (the corpus grown by replication).

    python -m eval.bench_retrieval --corpus ../shared/corpora/fastapi --files 60
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from eval.metrics import percentile
from ingest.pipeline import chunk_document
from ingest.run import run_ingest
from ingest.sources import Skipped, iter_folder, list_folder
from retrieval.sparse import document_vector
from retrieval.store.base import StorePoint
from service.container import build_components
from service.main import create_app
from service.settings import Settings


def _ingest_vs_raw(settings: Settings, corpus: Path, files: int) -> tuple[list, np.ndarray]:
    components = build_components(settings)
    subset = list_folder(corpus)[:files]
    docs = [d for d in iter_folder(corpus, subset) if not isinstance(d, Skipped)]
    chunks = [c for d in docs for c in chunk_document("bench", d)]
    texts = [c.indexed_text() for c in chunks]
    components.embedder.embed_documents(texts[:8])  # warm up
    t0 = time.perf_counter()
    vectors = components.embedder.embed_documents(texts)
    raw = len(texts) / (time.perf_counter() - t0)
    # Full ingest of the same files into an empty store: parse, chunk, embed, BM25, upsert.
    subdir = Path(tempfile.mkdtemp()) / "c"
    subdir.mkdir()
    for f in subset:
        dest = subdir / f.relative_to(corpus)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    report = run_ingest(components.ingester(), "bench-ingest", path=subdir)
    print(f"embedder {components.embedder.name}: {len(texts)} chunks from {len(subset)} files")
    print(f"raw embedding: {raw:.1f} chunks/s")
    print(f"full ingest:   {report.chunks_per_s:.1f} chunks/s  ({report.chunks_per_s / raw:.0%} of raw)")
    t0 = time.perf_counter()
    again = run_ingest(components.ingester(), "bench-ingest", path=subdir)
    print(f"re-ingest unchanged: {time.perf_counter() - t0:.2f} s, {again.chunks_added} chunks written")
    components.close()
    return chunks, vectors


def _grow(settings: Settings, chunks: list, vectors: np.ndarray, target: int) -> None:
    components = build_components(settings)
    have = components.store.count("bench")
    rng = np.random.default_rng(0)
    batch: list[StorePoint] = []
    sparse = [document_vector(c.indexed_text()) for c in chunks]
    for n in range(have, target):
        i = n % len(chunks)
        c = chunks[i]
        noisy = vectors[i] + rng.normal(0, 0.01, vectors.shape[1]).astype(np.float32)
        payload = {**c.payload(), "project": "bench", "path": f"copy{n // len(chunks)}/{c.path}"}
        batch.append(StorePoint(str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench{n}")), noisy, sparse[i], payload))
        if len(batch) == 1000:
            components.store.upsert(batch)
            batch = []
    components.store.upsert(batch)
    components.store.flush()
    t0 = time.perf_counter()
    components.store.optimize()
    print(f"grown to {components.store.count('bench')} chunks; optimize {time.perf_counter() - t0:.1f} s")
    components.close()


def _latency(settings: Settings, queries: list[str]) -> tuple[float, float]:
    with TestClient(create_app(settings)) as client:
        for q in queries[:5]:
            client.post("/search", json={"project": "bench", "query": q})
        times = []
        for q in queries:
            t0 = time.perf_counter()
            r = client.post("/search", json={"project": "bench", "query": q, "top_k": 10})
            times.append((time.perf_counter() - t0) * 1e3)
            assert r.status_code == 200, r.text
    return percentile(times, 50), percentile(times, 95)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="ossqa-bench-"))
    settings = Settings(_env_file=None, ossqa_data_dir=data, rate_limit_per_min=0)  # type: ignore[call-arg]
    chunks, vectors = _ingest_vs_raw(settings, args.corpus, args.files)
    rng = random.Random(0)
    queries = [
        f"How do I {c.breadcrumb.split(' > ')[-1].lower()}?"
        for c in rng.sample(chunks, min(len(chunks), args.queries))
    ]
    print("| chunks | /search p50 ms | p95 ms |\n|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        _grow(settings, chunks, vectors, size)
        p50, p95 = _latency(settings, queries)
        print(f"| {size} | {p50:.1f} | {p95:.1f} |", flush=True)


if __name__ == "__main__":
    main()
