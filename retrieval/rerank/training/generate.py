"""Passage -> question generation with the local LLM, in the style of Bonito's conditional
task generation (https://arxiv.org/abs/2402.18334): the model sees a passage and writes a
question that the passage answers. English and Chinese prompts are separate because the
0.5B model ignores a "write in Chinese" instruction inside an English prompt.

The LLM is any `complete(prompt) -> str` callable, so tests and other backends plug in.
Results are cached in a JSONL file keyed by (passage key, lang): a rerun costs nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from retrieval.rerank.training.passages import Passage
from retrieval.tokenize import has_cjk

Complete = Callable[[str], str]

_PROMPTS = {
    "en": (
        'Documentation passage:\n"""\n{passage}\n"""\n'
        "Task: write a specific question a developer would ask whose answer is in this passage. "
        "Use the names from the passage. Reply with the question only."
    ),
    "zh": (
        '文档片段：\n"""\n{passage}\n"""\n'
        "任务：用中文写一个开发者可能会问的具体问题，答案就在这段文档里。代码名称保持原样。只输出这个中文问题。"
    ),
}
_PASSAGE_CHARS = 700


@dataclass(frozen=True)
class GeneratedQuestion:
    key: str  # passage key
    lang: str
    question: str
    seconds: float


def clean_question(raw: str, lang: str) -> str | None:
    """First question-like line of the reply; None when the reply is not a usable question."""
    for line in raw.strip().splitlines():
        line = re.sub(r"^(\*\*)?(question|问题)\s*[:：]\s*(\*\*)?", "", line.strip(), flags=re.I).strip()
        line = line.strip("\"'“”*# ").strip()
        if not line:
            continue
        if lang == "zh" and not has_cjk(line):
            return None
        if lang == "en" and has_cjk(line):
            return None
        if not (6 if lang == "zh" else 12) <= len(line) <= 300:  # Chinese packs more per character
            return None
        return line
    return None


def pick_passages(passages: Sequence[Passage], count: int, *, min_chars: int = 200) -> list[Passage]:
    """Spread `count` passages over as many files as possible (round-robin by path)."""
    by_path: dict[str, list[Passage]] = {}
    for p in passages:
        if len(p.text) >= min_chars and p.text.count("`") < len(p.text) / 20:
            by_path.setdefault(p.path, []).append(p)
    queues = [list(v) for _, v in sorted(by_path.items())]
    out: list[Passage] = []
    depth = 0
    while len(out) < count and any(len(q) > depth for q in queues):
        for q in queues:
            if len(q) > depth and len(out) < count:
                # Walk each file from its middle outwards: intro chunks are least specific.
                out.append(q[(len(q) // 2 + depth) % len(q)])
        depth += 1
    return out


def generate_questions(
    passages: Sequence[Passage],
    complete: Complete,
    *,
    count: int,
    langs: Sequence[str] = ("en", "zh"),
    cache_file: Path | None = None,
    workers: int = 2,
    max_seconds: float | None = None,
) -> list[GeneratedQuestion]:
    """About `count` questions in total, split over `langs`, each from a different passage
    where the corpus allows it. Failed or unusable generations are skipped, not retried;
    past `max_seconds` the remaining ones are skipped (the cache keeps what was made)."""
    cached: dict[tuple[str, str], GeneratedQuestion] = {}
    if cache_file is not None and cache_file.exists():
        for line in cache_file.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            cached[(d["key"], d["lang"])] = GeneratedQuestion(**d)
    picked = pick_passages(passages, count)
    jobs = [(p, langs[i % len(langs)]) for i, p in enumerate(picked)]
    todo = [(p, lang) for p, lang in jobs if (p.key, lang) not in cached]

    deadline = time.monotonic() + max_seconds if max_seconds is not None else None

    def one(job: tuple[Passage, str]) -> GeneratedQuestion | None:
        p, lang = job
        if deadline is not None and time.monotonic() > deadline:
            return None
        body = f"{p.breadcrumb}\n{p.text}"[:_PASSAGE_CHARS]
        t0 = time.perf_counter()
        try:
            raw = complete(_PROMPTS[lang].format(passage=body))
        except Exception:  # noqa: BLE001 - one failed generation must not stop training
            return None
        q = clean_question(raw, lang)
        return GeneratedQuestion(p.key, lang, q, time.perf_counter() - t0) if q else None

    if todo:
        out_f = cache_file.open("a", encoding="utf-8") if cache_file is not None else None
        try:
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                for g in pool.map(one, todo):
                    if g is None:
                        continue
                    cached[(g.key, g.lang)] = g
                    if out_f is not None:
                        out_f.write(json.dumps(g.__dict__, ensure_ascii=False) + "\n")
                        out_f.flush()
        finally:
            if out_f is not None:
                out_f.close()
    return [cached[(p.key, lang)] for p, lang in jobs if (p.key, lang) in cached]
