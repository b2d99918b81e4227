"""Answer quality through POST /ask, in-process, with the configured model (default: the
packaged local model). Measures what issue 3 asks for, per language:
unanswerable refused %, answerable answered %, answered items citing a gold path %, errors,
p50/p95 time to first token and total time (SSE stream), retrieval time p50.

    OSSQA_DATA_DIR=/tmp/h3data python -m eval.answers --project pydantic \\
        --questions ../shared/eval/pydantic/questions.jsonl

Writes eval/results/answers-<name>.md (table) and .jsonl (one row per question).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eval.facts import states_main_fact

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass
class Row:
    id: str
    lang: str
    answerable: bool
    refused: bool = False
    error: str = ""
    cited_gold: bool = False
    cited_paths: list[str] = field(default_factory=list)
    gold_paths: list[str] = field(default_factory=list)
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    retrieval_ms: float = 0.0
    decide_ms: float = 0.0
    confidence: float = 0.0
    generated: bool = False
    answer: str = ""
    # For offline replay of citation and refusal logic without the model: the model's raw text
    # and the passages it was given (n, path, title, text shown), the candidates' paths.
    raw: str = ""
    passages: list[dict[str, Any]] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)  # the refusal blend's inputs
    main_fact: bool | None = None  # the answer states the first answer_fact (eval.facts); None: not judged


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ask_streaming(client: Any, project: str, question: str) -> tuple[dict[str, Any], float, float, int]:
    """(final event, ms to first token, total ms, HTTP status)."""
    t0 = time.perf_counter()
    first = 0.0
    final: dict[str, Any] = {}
    body = {"project": project, "question": question, "stream": True}
    with client.stream("POST", "/ask", json=body) as r:
        if r.status_code != 200:
            r.read()
            return r.json(), 0.0, (time.perf_counter() - t0) * 1e3, r.status_code
        kind = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                if kind == "token" and not first:
                    first = (time.perf_counter() - t0) * 1e3
                elif kind == "final":
                    final = json.loads(line[6:])
    return final, first, (time.perf_counter() - t0) * 1e3, 200


def run(
    project: str,
    questions: list[dict[str, Any]],
    rows_path: Path | None = None,
    *,
    settings: Any = None,
) -> tuple[list[Row], dict[str, Any]]:
    """Each question through streaming `/ask` in-process. `settings` (service.settings.Settings)
    defaults to the environment's, with the local model started and no rate limit."""
    from fastapi.testclient import TestClient

    from service.main import create_app
    from service.settings import Settings

    settings = settings or Settings(rate_limit_per_min=0, llm_autostart=True)  # type: ignore[call-arg]
    rows: list[Row] = []
    with TestClient(create_app(settings)) as client:
        trace = _trace(client.app.state.answerer)  # type: ignore[attr-defined]
        for i, q in enumerate(questions, 1):
            row = Row(
                q["id"], q.get("lang", "en"), bool(q["answerable"]), gold_paths=q.get("gold_paths") or []
            )
            try:
                final, ttft, total, status = ask_streaming(client, project, q["question"])
            except Exception as exc:  # counted, never hidden
                final, ttft, total, status = {"error": repr(exc)}, 0.0, 0.0, 599
            timings = final.get("timings_ms") or {}
            row.error = final.get("error", "") if (status != 200 or final.get("error")) else ""
            row.refused = bool(final.get("refused"))
            row.cited_paths = [c["path"] for c in final.get("citations") or []]
            row.cited_gold = bool(set(row.cited_paths) & set(row.gold_paths))
            row.ttft_ms, row.total_ms = ttft, total
            row.retrieval_ms = float(timings.get("retrieval_ms", 0.0))
            row.decide_ms = row.retrieval_ms + float(timings.get("confidence_ms", 0.0))
            row.confidence = float(final.get("confidence", 0.0) or 0.0)
            row.generated = "generate_ms" in timings
            row.answer = final.get("answer", "")
            if row.answerable and not row.refused and not row.error:
                row.main_fact = states_main_fact(q.get("answer_facts") or [], row.answer)
            if trace.get("question") == q["question"]:
                row.raw, row.passages, row.hits = trace["raw"], trace["passages"], trace["hits"]
                row.features = trace["features"]
            trace.clear()
            rows.append(row)
            if rows_path is not None:  # as we go: a long run that is stopped still leaves its rows
                with rows_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")
            mark = "E" if row.error else ("R" if row.refused else ("G" if row.cited_gold else "a"))
            print(
                f"[{i}/{len(questions)}] {mark} {row.id} {row.total_ms / 1e3:.1f}s conf={row.confidence:.2f}"
            )
        stats = asdict(client.app.state.answerer.stats)  # type: ignore[attr-defined]
    return rows, stats


def _trace(answerer: Any) -> dict[str, Any]:
    """Record what the answerer prepared last (passages, candidates, refusal features) and the
    model's raw text, for offline replay. Wraps the instance's `prepare` and `verify`, the two
    places that see them; nothing else changes."""
    seen: dict[str, Any] = {}
    prepare, verify = answerer.prepare, answerer.verify

    def traced_prepare(project: str, question: str, conversation_id: str | None, channel: str = "api") -> Any:
        prep = prepare(project, question, conversation_id, channel)
        f = prep.confidence.features
        seen.update(
            question=question,
            raw="",
            passages=[
                {"n": p.n, "path": p.hit.path, "title": p.hit.title, "text": p.text, "hit_text": p.hit.text}
                for p in prep.passages
            ],
            hits=[h.path for h in prep.hits],
            features={
                **(f.as_dict() if f else {}),
                "lexical": bool(f and f.lexical),
                "rerank": [h.scores.get("rerank") for h in prep.hits],
            },
        )
        return prep

    async def traced_verify(prep: Any, project: str, raw: str) -> Any:
        seen["raw"] = raw
        return await verify(prep, project, raw)

    answerer.prepare, answerer.verify = traced_prepare, traced_verify
    return seen


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}% ({n}/{d})" if d else "-"


def table(name: str, rows: list[Row], stats: dict[str, Any]) -> str:
    lines = [
        f"# /ask on {name}",
        "",
        "| slice | n | unanswerable refused | answerable answered | answered cite gold | errors "
        "| main fact stated "
        "| TTFT p50/p95 s | total p50/p95 s | retrieval p50 ms | retrieval+decide p50 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    slices = {"all": rows}
    for lang in sorted({r.lang for r in rows}):
        slices[lang] = [r for r in rows if r.lang == lang]
    for sname, rs in slices.items():
        una = [r for r in rs if not r.answerable]
        ans = [r for r in rs if r.answerable]
        answered = [r for r in ans if not r.refused and not r.error]
        gen = [r for r in rs if r.generated]
        ttft = [r.ttft_ms / 1e3 for r in gen]
        total = [r.total_ms / 1e3 for r in rs]
        retrieval = [r.retrieval_ms for r in rs]
        decide = [r.decide_ms for r in rs]
        graded = [r.main_fact for r in answered if r.main_fact is not None]
        lines.append(
            f"| {sname} | {len(rs)} | {_pct(sum(r.refused for r in una), len(una))} "
            f"| {_pct(len(answered), len(ans))} | {_pct(sum(r.cited_gold for r in answered), len(answered))} "
            f"| {sum(bool(r.error) for r in rs)} | {_pct(sum(graded), len(graded))} "
            f"| {percentile(ttft, 50):.1f} / {percentile(ttft, 95):.1f} "
            f"| {percentile(total, 50):.1f} / {percentile(total, 95):.1f} "
            f"| {percentile(retrieval, 50):.0f} | {percentile(decide, 50):.0f} |"
        )
    n = stats.get("answered", 0)

    def share(key: str) -> str:
        return _pct(stats.get(key, 0), n)

    lines += [
        "",
        "TTFT is over questions that reached the model; total time is over all questions (refusals "
        "skip the model). Main fact stated: answered items whose answer contains the first of the "
        "item's `answer_facts`, graded lexically by eval/facts.py (its technical tokens verbatim, half "
        "of its other words; a fact in another language on its tokens alone, else not graded).",
        "",
        f"Citation attribution (of {n} generated answers kept): the model wrote a valid [n] itself in "
        f"{share('answers_with_markers')}; at least one sentence attributed by overlap in "
        f"{share('answers_attributed_by_overlap')}; all citations by overlap in "
        f"{share('answers_only_by_overlap')}; invalid markers removed: "
        f"{stats.get('invalid_markers_removed', 0)}; refused before the model: "
        f"{stats.get('refused_confidence', 0)}; replaced by quotes of the passages because the model "
        f"copied the prompt's passages, wrote only markers, only restated the question or declined: "
        f"{stats.get('answers_extractive', 0)} (copied: {stats.get('answers_echoed', 0)}, of which "
        f"stopped at the first fence: {stats.get('generations_stopped_on_echo', 0)}; only markers: "
        f"{stats.get('answers_markers_only', 0)}; declined: {stats.get('model_declined', 0)}).",
    ]
    from retrieval.tokenize import has_cjk
    from service.answer import prose_of

    zh = [r for r in rows if r.lang == "zh" and r.generated and not r.refused and not r.error]
    if zh:
        english = sum(not has_cjk(prose_of(r.answer)) for r in zh)
        lines += [
            "",
            f"Language: {english} of {len(zh)} answers to Chinese questions have no Chinese outside code; "
            f"{stats.get('answers_translated', 0)} were translated by a second call after the model "
            "answered in English.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", required=False)
    ap.add_argument("--questions", type=Path)
    ap.add_argument("--name", default=None)
    ap.add_argument("--start", type=int, default=0, help="skip the first N questions")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--combine", default="", help="comma-separated run names to merge into --name")
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.combine:
        rows, stats = [], {}
        for part in args.combine.split(","):
            text = (args.out_dir / f"answers-{part}.jsonl").read_text(encoding="utf-8")
            rows += [Row(**json.loads(line)) for line in text.splitlines() if line]
            stats_path = args.out_dir / f"answers-{part}.stats.json"
            if stats_path.exists():
                for k, v in json.loads(stats_path.read_text()).items():
                    stats[k] = stats.get(k, 0) + v
        name = args.name
    else:
        questions = [
            json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line
        ]
        questions = questions[args.start :]
        if args.limit:
            questions = questions[: args.limit]
        name = args.name or args.project
        rows_path = args.out_dir / f"answers-{name}.jsonl"
        rows_path.unlink(missing_ok=True)
        rows, stats = run(args.project, questions, rows_path)
        (args.out_dir / f"answers-{name}.stats.json").write_text(json.dumps(stats), encoding="utf-8")
    text = table(name, rows, stats)
    print(text)
    (args.out_dir / f"answers-{name}.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
