"""Retrieval confidence for the refusal decision, made before any model call (the 0.5B model
answers unanswerable questions with invented facts, so it cannot be the judge).

Which score and threshold are used:
1. with REFUSAL_SIGNAL=rerank and a trained reranker: the best hit's `scores["rerank"]` (a
   calibrated probability from the cross-encoder), with the threshold a maintainer set for the
   project (service/project_thresholds.py), else REFUSAL_THRESHOLD, else
   `reranker.threshold(project)`;
2. otherwise (the default) the fallback below, which needs no trained model. It is the default
   because it separates real answerable from unanswerable questions better: AUROC 0.76-0.86 on
   the public sets against 0.60-0.77 for the reranker, whose threshold is fitted against far
   off-topic questions and lets near-topic ones through (eval/results/rerank.md). The blend is
   - `cos`: max cosine of the question with the top passages (the dense embedder, cross-lingual),
   - `cover`: IDF-weighted share of the question's terms found in the top passages,
   - `oov`: IDF-weighted share of the question's terms found nowhere in the project
     (names of other projects and tools: "peewee", "PyInstaller"),
   with weights fitted by `eval/calibrate_refusal.py` on our own generated questions (FastAPI
   corpus + hand-written off-topic ones), never on the eval sets.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np

from retrieval.embedders.base import BaseEmbedder
from retrieval.store.base import BaseStore
from retrieval.tokenize import has_cjk, stem, tokenize
from retrieval.types import Hit
from service.project_thresholds import ProjectThresholds

# Fitted by eval/calibrate_refusal.py (see eval/results/refusal_calibration.md).
FALLBACK_WEIGHTS = {"bias": -3.22, "cos": 1.99, "cover": 5.08, "oov": -7.66, "oov_plain": -7.71}
# The threshold is not the calibration's 80%-refused point (0.4): real user questions are
# longer and messier than generated ones and score lower, so at 0.4 only 57-62% of the
# answerable questions of the public dev sets were answered (74% / 60% of unanswerable refused).
# 0.2 is where answered + refused peaks on both dev sets together (answered 85-86%, refused
# 60-63%), and still refuses 62% of the hand-written off-topic questions (97% kept); see
# eval/results/refusal_calibration.md.
FALLBACK_THRESHOLD = 0.2
# For a question with no word the blend can judge (a Chinese question about an English-only
# corpus: its terms are neither found nor names), `cover` would sit at a neutral 0.5 and lift
# every such question over the threshold ("怎么做红烧肉？" was answered). These questions are
# judged on the cross-lingual similarity alone, fitted the same way on our own data
# (eval/calibrate_refusal.py --cos-only, FastAPI's English docs: 6 answerable Chinese questions,
# cos 0.30-0.54, vs 12 hand-written off-topic ones, cos 0.14-0.19 and one 0.32; at 0.2 all
# answerable kept, 92% off-topic refused; eval/results/refusal_calibration_cos_only.md).
COS_ONLY_WEIGHTS = {"bias": -4.90, "cos": 17.35}
PASSAGE_CHARS = 400  # the opening of a passage carries its topic; keeps embedding fast
TOP_PASSAGES = 3


RefusalSignal = Literal["fallback", "rerank"]


@dataclass(frozen=True)
class Features:
    cos: float
    cover: float
    oov: float
    oov_plain: float = 0.0
    lexical: bool = True  # False: no term of the question could be judged, only `cos` speaks

    def as_dict(self) -> dict[str, float]:
        return {"cos": self.cos, "cover": self.cover, "oov": self.oov, "oov_plain": self.oov_plain}


@dataclass(frozen=True)
class Confidence:
    value: float
    threshold: float
    source: str  # "rerank" | "fallback"
    features: Features | None = None

    @property
    def confident(self) -> bool:
        return self.value >= self.threshold


class TermStats:
    """Document frequencies per project, built once from the stored chunks and rebuilt after an
    ingest job or deletion in this process (`store.generation`) or when the project's chunk
    count changes (an ingest by another process into a Qdrant server). An edited page usually
    keeps the chunk count: keyed on the count alone, a term added to the docs stayed unknown,
    and questions about it were refused, until a restart."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[tuple[int, int], Counter[str], int, bool]] = {}
        self._lock = threading.Lock()

    def get(self, project: str) -> tuple[Counter[str], int, bool]:
        """(df, number of chunks, whether the corpus has a real Chinese part)."""
        key = (self.store.count(project), self.store.generation)
        with self._lock:
            cached = self._cache.get(project)
            if cached and cached[0] == key:
                return cached[1], cached[2], cached[3]
            df: Counter[str] = Counter()
            n = 0
            zh = 0
            for payload in self.store.payloads(project):
                text = f"{payload.get('title', '')} {payload.get('breadcrumb', '')} {payload.get('text', '')}"
                df.update(set(tokenize(text)))
                n += 1
                zh += has_cjk(str(payload.get("text", "")))
            has_zh = n > 0 and zh / n >= 0.05
            self._cache[project] = (key, df, n, has_zh)
            return df, n, has_zh


# Chinese question words are never in documentation, so they would read as "unknown terms".
_ZH_QUESTION_WORDS = frozenset(
    "如何 怎么 怎样 怎么办 什么 为什么 为何 哪个 哪些 哪里 是否 可以 能否 能不能 有没有 需要 应该 请问 "
    "一下 问题 其他 无法 使用 如果 时候 这样 那么 还是 或者 我们 他们 自己 现在 已经".split()
)


# Generic English question words (stemmed): absent from a small corpus, but not a sign of an
# unrelated question.
_EN_QUESTION_WORDS = frozenset(
    "mani much time way work use get make need want possibl best correct right differ happen "
    "exampl tell explain anyon someon thing instead still alway never sure like pleas help".split()
)


# File formats, protocols and other vocabulary every software project's users write, usually
# as acronyms (so they read as names of other tools): a small corpus may never mention CSV or
# JWT, and their absence says nothing about whether it covers the question ("How do I stream a
# large CSV file?" was refused by FastAPI's docs, which explain StreamingResponse). Judged
# like any term where the corpus has them.
_GENERIC_TECH_WORDS = frozenset(
    t
    for w in "csv tsv pdf xml yaml yml toml ini json jsonl html css svg png jpeg jpg gif zip gzip "
    "sql http https url uri api cli gui ui id uuid utc jwt ssl tls tcp udp dns ip cpu gpu ram "
    "os io ascii unicode utf regex crud orm sdk ide rest rpc ssh ftp smtp email".split()
    for t in tokenize(w)
)


def _judged_terms(question: str, corpus_has_zh: bool) -> set[str]:
    terms = set()
    for t in tokenize(question):
        if has_cjk(t):
            # Single characters are jieba fragments; CJK terms say nothing about English docs.
            if not corpus_has_zh or len(t) < 2 or t in _ZH_QUESTION_WORDS:
                continue
        elif t in _EN_QUESTION_WORDS:
            continue
        terms.add(t)
    return terms


# Names of other projects and tools are written Capitalised or in CamelCase/ACRONYMS
# (Django, PyInstaller, TypeBox, JVM). Only these count as "unknown to this project": a user's
# own identifiers (`current_account`, userId) and plain words missing from a small corpus
# ("swapping") say nothing about whether the docs cover the question.
_NAME_RE = re.compile(
    r"(?<![.?!:]\s)(?<!^)(?<![`\w])([A-Z][A-Za-z0-9]*[a-z0-9][A-Za-z0-9]*|[A-Z]{2,}[0-9]?)\b(?![`_(])"
)


def _name_terms(question: str) -> set[str]:
    terms: set[str] = set()
    for m in _NAME_RE.finditer(question.strip()):
        terms.update(tokenize(m.group(1)))
    return terms


def _compound(term: str) -> bool:
    """Identifier-ish tokens (snake_case, dotted, hyphenated, with digits): their parts are
    judged on their own, the whole rarely appears verbatim."""
    return bool(re.search(r"[-_.0-9]", term))


_PARTICLES = frozenset("up out down in off over".split())
_WORD_PAIR_RE = re.compile(r"(?=\b([A-Za-z]{2,})\s+([A-Za-z]{2,})\b)")


def _joined_words(question: str, df: Counter[str]) -> list[tuple[str, set[str]]]:
    """Two words a user wrote apart that the docs write as one ("starts up" ~ startup, "shut
    down" ~ shutdown): (the corpus term, the tokens it replaces). Only for a phrasal verb's
    particle or a word absent from the corpus: two known words ("JSON schema", "one of") stay
    two terms even when some identifier joins them."""
    out = []
    for first, second in _WORD_PAIR_RE.findall(question):
        tokens = [tokenize(first), tokenize(second)]
        unknown = [not any(df.get(t, 0) > 0 for t in ts) for ts in tokens]
        if not (second.lower() in _PARTICLES or (any(unknown) and all(tokens))):
            continue
        for joined in (f"{first}{second}".lower(), stem(first.lower()) + second.lower()):
            term = stem(joined)
            if len(term) >= 5 and df.get(term, 0) > 0:
                out.append((term, {t for ts in tokens for t in ts}))
                break
    return out


def lexical_features(
    question: str, passages: list[str], df: Counter[str], n_docs: int, corpus_has_zh: bool
) -> tuple[float, float, float, bool]:
    """(cover, oov, oov_plain, lexical), IDF-weighted shares of the question's judged terms:
    cover = known terms found in the top passages; oov = name-like terms found nowhere in the
    project; oov_plain = plain words found nowhere (weak evidence: "swapping" may simply not
    occur in a small corpus). Chinese terms are skipped for a corpus with no Chinese text,
    where their absence says nothing. `lexical` is False when no term gave evidence either way."""
    terms = _judged_terms(question, corpus_has_zh)
    split: dict[str, set[str]] = {}  # a joined term is found when its parts are, too
    for term, parts in _joined_words(question, df):
        terms = (terms - parts) | {term}
        split[term] = parts
    terms = {t for t in terms if df.get(t, 0) > 0 or t not in _GENERIC_TECH_WORDS}
    if not terms:
        return 0.5, 0.0, 0.0, False  # nothing to judge by
    names = _name_terms(question)
    in_passages: set[str] = set()
    for p in passages:
        in_passages.update(tokenize(p))
    total = known = cover = oov = plain = 0.0
    for t in terms:
        idf = math.log(1.0 + (n_docs + 1) / (df.get(t, 0) + 0.5))
        total += idf
        if df.get(t, 0) > 0:
            known += idf
            found = t in in_passages or bool(split.get(t) and split[t] <= in_passages)
            cover += idf if found else 0.0
        elif t in names:
            oov += idf
        elif not _compound(t) and not has_cjk(t):
            # Chinese words missing from the corpus are mostly jieba segmentation accidents
            # ("时要", "集能") or colloquial phrasing: no evidence either way.
            plain += idf
    cover_share = cover / (known + oov) if known + oov > 0 else 0.5
    return cover_share, oov / total, plain / total, known + oov + plain > 0


def fallback_features(
    question: str, hits: list[Hit], embedder: BaseEmbedder, stats: TermStats, project: str
) -> Features:
    top = hits[:TOP_PASSAGES]
    texts = [f"{h.title}\n{h.text[:PASSAGE_CHARS]}" for h in top]
    # The cross-lingual model alone (USE): the feature was calibrated on it, it reads Chinese,
    # and a combined embedder (use+minilm) would weigh languages differently.
    model = getattr(embedder, "multilingual", embedder)
    q = model.embed_documents([question])[0]
    cos = float(np.max(model.embed_documents(texts) @ q)) if texts else 0.0
    df, n, has_zh = stats.get(project)
    cover, oov, plain, lexical = lexical_features(question, texts, df, n, has_zh)
    return Features(cos=cos, cover=cover, oov=oov, oov_plain=plain, lexical=lexical)


def by_probability(hits: list[Hit]) -> list[Hit]:
    """Hits the reranker scored, in its calibrated order, then the others as given. English
    questions reach us ordered by the stronger bi-encoder, but the blend was fitted on the top
    passages of the calibrated order; judged on the new order's top passages it refused 6 more
    answerable Pydantic questions (and no more unanswerable ones)."""
    scored = sorted((h for h in hits if "rerank" in h.scores), key=lambda h: -h.scores["rerank"])
    return scored + [h for h in hits if "rerank" not in h.scores]


def blend(features: Features, weights: dict[str, float] = FALLBACK_WEIGHTS) -> float:
    """Probability that the top passages answer; `weights` are the lexical blend's, and a
    question with no judged term is scored by COS_ONLY_WEIGHTS instead."""
    if not features.lexical:
        weights = COS_ONLY_WEIGHTS
    z = weights["bias"] + sum(weights.get(k, 0.0) * v for k, v in features.as_dict().items())
    return 1.0 / (1.0 + math.exp(-z))


class ConfidenceScorer:
    """Decides how sure retrieval is that the answer is in the top hits."""

    def __init__(
        self,
        *,
        embedder: BaseEmbedder,
        store: BaseStore,
        reranker: object | None = None,
        threshold: float | None = None,
        fallback_threshold: float = FALLBACK_THRESHOLD,
        weights: dict[str, float] | None = None,
        signal: RefusalSignal = "fallback",
        per_project: ProjectThresholds | None = None,
    ) -> None:
        self.embedder = embedder
        self.signal = signal
        self.reranker = reranker
        self.threshold = threshold  # REFUSAL_THRESHOLD override
        self.per_project = per_project  # a maintainer's threshold for one project wins over both
        self.fallback_threshold = fallback_threshold
        self.weights = weights or FALLBACK_WEIGHTS
        self.stats = TermStats(store)

    def _override(self, project: str) -> tuple[float | None, str | None]:
        """(threshold, where it comes from) when one is set for the project or globally."""
        value = self.per_project.get(project) if self.per_project is not None else None
        if value is not None:
            return value, f"set for this project (PUT /admin/projects/{project}/refusal-threshold)"
        if self.threshold is not None:
            return self.threshold, "REFUSAL_THRESHOLD"
        return None, None

    def _rerank_threshold(self, project: str) -> float | None:
        override, _ = self._override(project)
        if override is not None:
            return override
        method = getattr(self.reranker, "threshold", None)
        if callable(method):
            try:
                value = method(project)
            except Exception:  # a reranker without calibration for this project
                return None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return None

    def _fallback_threshold(self, project: str) -> float:
        override, _ = self._override(project)
        return override if override is not None else self.fallback_threshold

    def describe(self, project: str) -> dict[str, object]:
        """What decides refusal for this project, as `score` applies it (GET /projects/{project}):
        the reranker's fitted threshold is only in force with REFUSAL_SIGNAL=rerank."""
        _, source = self._override(project)
        if self.signal == "rerank":
            threshold = self._rerank_threshold(project)
            if threshold is not None:
                return {
                    "signal": "rerank",
                    "threshold": threshold,
                    "threshold_from": source or "the reranker's calibration",
                }
        return {
            "signal": "fallback",
            "threshold": self._fallback_threshold(project),
            "threshold_from": source or "default (service/confidence.py)",
            "meaning": "answer when the similarity + term-coverage blend of the top passages >= threshold "
            "(similarity alone when no term of the question can be judged)",
        }

    def score(self, project: str, question: str, hits: list[Hit]) -> Confidence:
        if not hits:
            return Confidence(0.0, self._fallback_threshold(project), "fallback")
        # The best probability, not the first hit's: English questions are ordered by the
        # stronger bi-encoder, not by the probability (retrieval/rerank/cross_encoder.py).
        probs = [h.scores["rerank"] for h in hits if "rerank" in h.scores] if self.signal == "rerank" else []
        rerank = max(probs) if probs else None
        if rerank is not None:
            threshold = self._rerank_threshold(project)
            if threshold is not None:
                return Confidence(float(rerank), threshold, "rerank")
        features = fallback_features(question, by_probability(hits), self.embedder, self.stats, project)
        return Confidence(
            blend(features, self.weights), self._fallback_threshold(project), "fallback", features
        )
