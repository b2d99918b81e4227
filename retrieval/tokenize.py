"""BM25 tokenisation for English prose, code identifiers and Chinese.

`model_config` -> model_config, model, config; `BackgroundTasks` -> backgroundtasks,
background, task; Chinese runs are segmented with jieba (search mode). English words are
Porter-stemmed so "validators" matches "validator".
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import jieba
from nltk.stem.porter import PorterStemmer

jieba.setLogLevel(logging.WARNING)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[A-Za-z0-9_]+(?:[.\-][A-Za-z0-9_]+)*")
_CJK_RE = re.compile(rf"[{_CJK}]")
_CAMEL_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

STOPWORDS = frozenset(
    """a an and are as at be but by for if in into is it its no not of on or such that the their then there
    these they this to was will with i me my we our you your he she him her do does did how what when where
    which who why can could should would so than too very just have has had been being am from up out about
    over also any all some i'm it's""".split()
    + list("的了和是在我有就不人都一上也很到说要去你会着没看好自己这那吗吧呢啊么")
)

_stemmer = PorterStemmer()


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    return _stemmer.stem(word) if word.isalpha() and len(word) > 3 else word


def _latin_tokens(token: str) -> list[str]:
    """The token itself, then its parts: dotted.path / kebab-case components, then the
    snake_case and CamelCase pieces of each (every distinct part once)."""
    whole = token.lower()
    out = [] if whole in STOPWORDS else [stem(whole)]
    parts: list[str] = []
    components = [c for c in re.split(r"[.\-]+", token) if c]
    if len(components) > 1:
        parts.extend(components)
    for comp in components:
        pieces = [p for sub in comp.split("_") if sub for p in (_CAMEL_RE.findall(sub) or [sub])]
        if len(pieces) > 1:
            parts.extend(pieces)
    seen = {whole}
    for part in parts:
        p = part.lower()
        if len(p) > 1 and p not in STOPWORDS and p not in seen:
            seen.add(p)
            out.append(stem(p))
    return out


def tokenize(text: str) -> list[str]:
    """Tokens for BM25, in order, with repeats (term frequency matters)."""
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        token = match.group(0)
        if _CJK_RE.match(token):
            for word in jieba.cut_for_search(token):
                if word.strip() and word not in STOPWORDS:
                    tokens.append(word)
        else:
            tokens.extend(_latin_tokens(token))
    return tokens


def has_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text))


def detect_lang(text: str) -> str:
    """'zh' when a noticeable share of letters is Chinese, else 'en'."""
    cjk = len(_CJK_RE.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk and cjk * 3 >= latin * 0.5 else "en"


# A few Chinese words in a question mean a Chinese-speaking user, however long the English
# error message or command they paste beside them ("执行 llamafactory-cli train ... 时出错，提示
# ValueError: ..."); English questions carry no Chinese characters at all.
QUESTION_ZH_CHARS = 4


def question_lang(text: str) -> str:
    """The language a question is written in, for answering in it and for choosing the ranker
    that can read it. Stricter than `detect_lang`, which labels document chunks by their bulk."""
    if detect_lang(text) == "zh" or len(_CJK_RE.findall(text)) >= QUESTION_ZH_CHARS:
        return "zh"
    return "en"
