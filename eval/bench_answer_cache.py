"""What the answer cache saves: each question asked twice through a running server's /ask
(new conversation each time), time to the full answer, first vs repeat.

    ossqa serve --port 8000 &    # any data dir with the project ingested
    python -m eval.bench_answer_cache --url http://127.0.0.1:8000 --project ossqa \\
        --questions samples/questions.txt
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx


def timed_ask(client: httpx.Client, url: str, project: str, question: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.post(f"{url}/ask", json={"project": project, "question": question}, timeout=300)
    return (time.perf_counter() - t0) * 1e3, r.json()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--project", required=True)
    ap.add_argument("--questions", type=Path, required=True, help="one question per line")
    args = ap.parse_args()
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [q.strip() for q in lines if q.strip() and not q.startswith("#")]
    first, repeat, hits, generated = [], [], 0, 0
    with httpx.Client() as client:
        for q in questions:
            ms, body = timed_ask(client, args.url, args.project, q)
            if body.get("refused") or not body.get("answer"):
                continue  # refusals and errors never reach the model or the cache
            generated += 1
            first.append(ms)
            ms, again = timed_ask(client, args.url, args.project, q)
            repeat.append(ms)
            hits += int(again.get("timings_ms", {}).get("cache_hit", 0))
    if not first:
        raise SystemExit("no question was answered; nothing to compare")
    p50_first, p50_repeat = statistics.median(first), statistics.median(repeat)
    print(f"questions answered: {generated} of {len(questions)}; repeats served from the cache: {hits}")
    print(f"time to the full answer p50: first {p50_first:.0f} ms, repeat {p50_repeat:.0f} ms")
    print(f"repeat / first: {p50_repeat / p50_first:.3f}")


if __name__ == "__main__":
    main()
