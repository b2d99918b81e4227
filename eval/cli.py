"""`ossqa eval retrieval`: ingest (optionally) and score every system on a question set."""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.retrieval import SearchFn, SystemResult, evaluate, load_questions, markdown_table


def run_eval(args: argparse.Namespace) -> int:
    from ingest.run import run_ingest
    from service.container import build_components
    from service.settings import Settings

    settings = Settings()
    components = build_components(settings)
    try:
        if args.corpus:
            report = run_ingest(components.ingester(), args.project, path=args.corpus)
            print(report.summary())
        questions = load_questions(args.questions)
        retriever = components.retriever
        systems: dict[str, SearchFn] = {}
        wanted = [s.strip() for s in args.baselines.split(",") if s.strip()]

        def ours(mode: str, rerank: bool) -> SearchFn:
            return lambda q: [
                h.path
                for h in retriever.search(args.project, q, top_k=10, mode=mode, rerank=rerank)  # type: ignore[arg-type]
            ]

        for name, mode in (("bm25", "sparse"), ("dense", "dense"), ("hybrid", "hybrid")):
            if name in wanted:
                systems[f"{name} (ossqa)"] = ours(mode, rerank=False)
        if "hybrid+rerank" in wanted:
            systems["hybrid+rerank (ossqa)"] = ours("hybrid", rerank=True)
        if "rank-bm25" in wanted:
            from eval.baselines import rank_bm25_search

            systems["rank-bm25 (reference)"] = rank_bm25_search(list(components.store.payloads(args.project)))
        if "llama-index" in wanted:
            if not args.corpus:
                print("llama-index baseline needs --corpus; skipped")
            else:
                from eval.baselines import llama_index_search

                systems["llama-index default"] = llama_index_search(args.corpus)
        results: list[SystemResult] = [evaluate(name, fn, questions) for name, fn in systems.items()]
    finally:
        components.close()
    qfile = Path(args.questions)
    table = markdown_table(f"{args.project}: {qfile.parent.name}/{qfile.name}", results)
    print(table)
    out = args.out or Path("eval/results") / f"retrieval-{args.project}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table, encoding="utf-8")
    print(f"written to {out}")
    return 0
