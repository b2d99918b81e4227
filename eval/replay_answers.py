"""Replay the generation step of a stored `eval.answers` run against another model or prompt.

`eval.answers` stores, per question, the passages the model was given. This sends the same
passages through the answer path after the refusal decision (prompt -> model -> translation for
Chinese -> citation checks) on any OpenAI-compatible server, and scores it like `eval.answers`
does, so two models or two prompts can be compared on identical passages without retrieval,
reranker training or a data directory:

    ossqa llm --port 8081 --threads 1 &      # or any LLM_BASE_URL (a bigger GGUF, vLLM)
    python -m eval.replay_answers --rows eval/results/answers-pydantic.jsonl \\
        --questions ../shared/eval/pydantic/questions.jsonl --base-url http://127.0.0.1:8081/v1

`--quotes-only` needs no model: it answers every stored row with the quote fallback and grades
it (main key fact, gold quote), to compare ways of choosing quotes.

Only questions the stored run answered are replayed (refusal is decided before the model).
Prints one line per question and a summary: cite gold, answers whose own [n] markers survived,
echoed passages, quote fallbacks, p50 seconds per answer and to the first token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from eval.facts import states_main_fact

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_rows(rows_path: Path, questions_path: Path, only: set[str]) -> list[dict[str, Any]]:
    """Stored rows that reached the model, joined with their question text and key facts."""
    lines = questions_path.read_text(encoding="utf-8").splitlines()
    questions = {q["id"]: q for q in (json.loads(line) for line in lines if line.strip())}
    rows = []
    for line in rows_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("generated") and row.get("passages") and (not only or row["id"] in only):
            row["question"] = questions[row["id"]]["question"]
            row["answer_facts"] = questions[row["id"]].get("answer_facts") or []
            row["gold_quotes"] = questions[row["id"]].get("gold_quotes") or []
            rows.append(row)
    return rows


def _default_embedder() -> Any:
    """The service's default embedder: attribution of Chinese answers over English passages, and
    the choice of Chinese questions' quotes, use it."""
    from retrieval.embedders import create_embedder
    from service.settings import Settings

    return create_embedder(Settings.model_fields["embedding_model"].default)


def stored_passages(row: dict[str, Any]) -> list[Any]:
    """The passages a stored row's model was given, as the answer path's `Passage`s."""
    from retrieval.types import Hit
    from service.answer import Passage

    return [
        Passage(
            n=p["n"],
            hit=Hit(
                id=f"{p['path']}#{p['n']}",
                score=1.0,
                path=p["path"],
                url="",
                title=p["title"],
                breadcrumb="",
                text=p.get("hit_text", p["text"]),
                source_type="doc",
            ),
            text=p["text"],
        )
        for p in row["passages"]
    ]


def quotes_only(rows: list[dict[str, Any]]) -> str:
    """No model: every row answered with the quote fallback (`extractive_answer`), graded for the
    main key fact and for quoting a gold quote (its first 60 characters, whitespace flattened)."""
    from service.answer.fallbacks import extractive_answer

    embedder = _default_embedder()
    graded: list[bool] = []
    gold = lengths = 0
    answerable = [r for r in rows if r.get("answerable", True)]
    for row in answerable:
        text = extractive_answer(row["question"], stored_passages(row), embedder=embedder)
        lengths += len(text)
        flat = " ".join(text.split())
        gold += any(" ".join(q.split())[:60] in flat for q in row.get("gold_quotes") or [])
        main = states_main_fact(row.get("answer_facts") or [], text)
        if main is not None:
            graded.append(main)
    n = len(answerable)
    return (
        f"quotes only: main fact stated {sum(graded)}/{len(graded)} (eval.facts), a gold quote quoted "
        f"{gold}/{n}, mean answer {lengths / max(n, 1):.0f} characters"
    )


async def replay(
    rows: list[dict[str, Any]], project: str, base_url: str, model: str, max_tokens: int
) -> list[dict[str, Any]]:
    import httpx

    from service.answer import Answerer, Prepared, build_prompt, echoes_so_far
    from service.llm.openai_compat import OpenAICompatLLM

    embedder = _default_embedder()
    out = []
    async with httpx.AsyncClient() as client:
        llm = OpenAICompatLLM(client, base_url=base_url, model=model, timeout_s=600)
        # Only the generation half of Answerer runs here; its retriever is never asked to search.
        answerer = Answerer(
            SimpleNamespace(embedder=embedder, store=None, reranker=None), llm, max_tokens=max_tokens
        )
        for i, row in enumerate(rows, 1):
            passages = stored_passages(row)
            prep = Prepared.given(row["question"], passages)
            t0 = time.perf_counter()
            pieces: list[str] = []
            first = fence = 0.0
            # The whole generation, with no early stop: the time the service's stop would have
            # come (the first whole fence line) is recorded beside it.
            async for piece in llm.stream(
                build_prompt(row["question"], passages, project=project), max_tokens=max_tokens
            ):
                first = first or time.perf_counter() - t0
                pieces.append(piece)
                if not fence and echoes_so_far("".join(pieces)):
                    fence = time.perf_counter() - t0
            generated = time.perf_counter() - t0
            raw = "".join(pieces)
            before = answerer.stats.__dict__.copy()
            answer = await answerer.verify(prep, project, raw)
            seconds = time.perf_counter() - t0
            delta = {k: v - before[k] for k, v in answerer.stats.__dict__.items()}
            cited = [c.path for c in answer.citations]
            result = {
                "id": row["id"],
                "lang": row["lang"],
                "cited_gold": bool(set(cited) & set(row["gold_paths"])),
                "stored_cited_gold": bool(row.get("cited_gold")),
                "markers": bool(delta["answers_with_markers"]),
                "echoed": bool(delta["answers_echoed"]),
                "extractive": bool(delta["answers_extractive"]),
                "declined": bool(delta["model_declined"]),
                "seconds": seconds,
                "ttft": first,
                "generate_s": generated,
                "fence_s": fence,
                "raw": raw,
                "answer": answer.answer,
                "main_fact": states_main_fact(row.get("answer_facts") or [], answer.answer),
            }
            out.append(result)
            flag = "G" if result["cited_gold"] else "a"
            stored = "G" if row.get("cited_gold") else "a"
            print(
                f"[{i}/{len(rows)}] {flag} {row['id']} {seconds:.1f}s stored={stored}"
                f"{' echo' if result['echoed'] else ''}{' quotes' if result['extractive'] else ''}",
                flush=True,
            )
    return out


def summary(results: list[dict[str, Any]]) -> str:
    n = len(results)
    if not n:
        return "no rows"
    secs = sorted(r["seconds"] for r in results)
    ttft = sorted(r.get("ttft", 0.0) for r in results)

    def count(key: str) -> str:
        return f"{sum(r[key] for r in results)}/{n}"

    graded = [r["main_fact"] for r in results if r.get("main_fact") is not None]
    return (
        f"cite gold {count('cited_gold')} (stored run {count('stored_cited_gold')}), "
        f"main fact stated {sum(graded)}/{len(graded)} (eval.facts), "
        f"model markers {count('markers')}, echoed {count('echoed')}, quote fallback {count('extractive')}, "
        f"declined {count('declined')}, p50 {secs[n // 2]:.1f} s per answer "
        f"(first token {ttft[n // 2]:.1f} s)" + _early_stop(results)
    )


def _early_stop(results: list[dict[str, Any]]) -> str:
    """For answers that copied the prompt: generation time in full against the time the
    service stops at the first fence line, measured in the same run."""
    copied = [r for r in results if r.get("fence_s")]
    if not copied:
        return ""
    full = sorted(r["generate_s"] for r in copied)
    stop = sorted(r["fence_s"] for r in copied)
    m = len(copied) // 2
    return (
        f"; {len(copied)} copied the prompt: generation p50 {full[m]:.1f} s in full, "
        f"{stop[m]:.1f} s to the first fence line ({stop[m] / full[m]:.0%})"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=Path, required=True, help="an eval.answers .jsonl")
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8081/v1")
    ap.add_argument(
        "--quotes-only", action="store_true", help="no model: grade the quote fallback on every row"
    )
    ap.add_argument("--model", default="local")
    ap.add_argument("--project", default="", help="name shown in the prompt (default: from --rows)")
    ap.add_argument("--only", default="", help="comma-separated question ids")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--out", type=Path, help="write one JSON line per replayed question")
    args = ap.parse_args(argv)
    rows = load_rows(args.rows, args.questions, {s for s in args.only.split(",") if s})
    if args.limit:
        rows = rows[: args.limit]
    if args.quotes_only:
        print(quotes_only(rows))
        return 0
    if not args.base_url:
        ap.error("--base-url is required unless --quotes-only")
    project = args.project or args.rows.stem.removeprefix("answers-")
    results = asyncio.run(replay(rows, project, args.base_url, args.model, args.max_tokens))
    if args.out:
        args.out.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results), encoding="utf-8"
        )
    print(summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
