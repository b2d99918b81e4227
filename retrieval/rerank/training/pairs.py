"""Training data for the reranker, built from a project's own chunks (never from eval sets).

    queries   = answerable queries (generated, headings, identifiers, discussion titles),
                each tied to the passage it came from, plus refusal queries (off-topic and
                other corpora) tied to none
    candidates = what hybrid retrieval returns for each query (fused order, no reranker)
    pairs     = (query, source passage, 1) and (query, hard negative, 0) for training the
                cross-encoder; per-candidate labels on held-out queries for calibration

Queries are split by source file (train / calib / test), so a held-out question never
shares a file with a training one; refusal queries are split by their own hash.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from retrieval.rerank.training.passages import Passage, pair_text
from retrieval.tokenize import tokenize
from retrieval.types import Hit

Search = Callable[[str], list[Hit]]
SPLITS = ("train", "calib", "test")


@dataclass(frozen=True)
class Query:
    text: str
    lang: str
    kind: str  # generated | heading | identifier | sentence | discussion | offtopic | other-corpus
    source: Passage | None  # None for refusal queries

    @property
    def answerable(self) -> bool:
        return self.source is not None

    @property
    def split(self) -> str:
        return split_of(self.source.path if self.source else "q:" + self.text)


@dataclass
class Candidates:
    """One query with its retrieved candidates and a label per candidate: 1 the source
    passage, 0 a passage from another file, None another chunk of the source file (it may
    or may not answer, so it teaches nothing either way)."""

    query: Query
    hits: list[Hit]
    labels: list[int | None] = field(default_factory=list)


def split_of(group: str, *, calib: float = 0.15, test: float = 0.15) -> str:
    h = int(hashlib.sha1(group.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test else "calib" if h < test + calib else "train"


def discussion_queries(passages: Sequence[Passage]) -> list[Query]:
    """A thread's question (title + opening post) -> its replies (later chunks of the thread)."""
    threads: dict[str, list[Passage]] = {}
    for p in passages:
        if p.source_type in ("discussion", "issue"):
            threads.setdefault(p.path, []).append(p)
    out = []
    for chunks in threads.values():
        chunks.sort(key=lambda p: p.index)
        opening = chunks[0]
        question = f"{opening.title}\n{opening.text[:300]}".strip()
        lang = "zh" if opening.lang == "zh" else "en"
        for answer in chunks[1:3] or chunks[:1]:
            out.append(Query(question if len(chunks) > 1 else opening.title, lang, "discussion", answer))
    return out


def token_jaccard(a: str, b: str) -> float:
    ta, tb = set(tokenize(a)), set(tokenize(b))
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


def is_true_negative(source: Passage, hit: Hit, *, max_overlap: float = 0.6) -> bool:
    """A hard negative must come from another file and must not be a near copy of the
    source (docs repeat sections, e.g. README.md and README_zh.md or versioned pages)."""
    if hit.path == source.path:
        return False
    if hit.text.strip() == source.text.strip():
        return False
    return token_jaccard(hit.text, source.text) < max_overlap


def label_candidates(query: Query, hits: list[Hit]) -> Candidates:
    labels: list[int | None] = []
    for h in hits:
        if query.source is None:
            labels.append(0)
        elif h.text == query.source.text:
            labels.append(1)
        elif is_true_negative(query.source, h):
            labels.append(0)
        else:
            labels.append(None)
    return Candidates(query, hits, labels)


def retrieve(queries: Sequence[Query], search: Search) -> list[Candidates]:
    return [label_candidates(q, search(q.text)) for q in queries]


def round_trip(c: Candidates, *, top_k: int = 20) -> bool:
    """Keep an answerable query only when retrieval finds its source passage in the top k:
    a generated question its passage does not answer (or that any page answers) fails."""
    if not c.query.answerable:
        return True
    return any(label == 1 for label in c.labels[:top_k])


Group = tuple[str, list[str], list[float]]  # query, passage texts, labels (positive first)


def training_groups(
    cands: Sequence[Candidates],
    passages: Sequence[Passage],
    *,
    hard_per_query: int = 5,
    random_per_query: int = 1,
    refusal_per_query: int = 2,
    seed: int = 0,
) -> list[Group]:
    """Per train-split query: its source passage first, then hard negatives (other files
    that retrieval ranks high) and random ones; a refusal query gets only negatives. The
    trainer scores a group together (listwise loss), so the model learns to put the source
    above the passages retrieval confuses it with."""
    rng = random.Random(seed)
    out: list[Group] = []
    for c in cands:
        q = c.query
        if q.split != "train":
            continue
        if q.source is None:
            negs = [pair_text(h.breadcrumb, h.title, h.text) for h in c.hits[:refusal_per_query]]
            if negs:
                out.append((q.text, negs, [0.0] * len(negs)))
            continue
        src = q.source
        src_text = src.text
        if q.kind == "sentence" and rng.random() < 0.5:
            src_text = src_text.replace(q.text, " ")  # inverse cloze: the query is no longer in it
        texts = [pair_text(src.breadcrumb, src.title, src_text)]
        for h in [h for h, label in zip(c.hits, c.labels, strict=True) if label == 0][:hard_per_query]:
            texts.append(pair_text(h.breadcrumb, h.title, h.text))
        for _ in range(random_per_query):
            p = rng.choice(passages)
            if p.path != src.path:
                texts.append(pair_text(p.breadcrumb, p.title, p.text))
        out.append((q.text, texts, [1.0] + [0.0] * (len(texts) - 1)))
    rng.shuffle(out)
    return out
