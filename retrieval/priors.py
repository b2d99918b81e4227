"""Page-type priors on the final order.

Changelogs (HISTORY.md, CHANGELOG.md, release-notes.md) hold one line about nearly every
feature ("Add support for X in Y"), so they match many questions' words while rarely
explaining how to do anything; in a big project they are also the largest page (FastAPI's
release notes are nearly half of its English docs). Unless the question asks about versions or
changes, each changelog page moves down a few places: it stays in the list as a link, but the
pages that explain the feature come first, into the prompt (and, for a project with no trained
reranker, into the refusal decision; a trained one's calibrated order decides refusal).
Measured in eval/results/changelog_prior.md.
"""

from __future__ import annotations

import re

from retrieval.types import Hit

# A changelog file (HISTORY.md, CHANGES.rst, release-notes.md), or any page in a folder of
# per-release notes (docs/releases/v1.2.md, docs/whatsnew/3.12.rst, changelog/0.4.md).
_CHANGELOG_RE = re.compile(
    r"(^|/)(history|changelog|changes|news|whatsnew|release[-_ ]?notes)(\.[a-z]+)?$"
    r"|(^|/)(changelogs?|changes|releases|whatsnew|release[-_ ]?notes)/",
    re.I,
)
# A version number ("2.9", "v0.110.1") or words about releases: the changelog may be the answer.
_ASKS_ABOUT_CHANGES_RE = re.compile(
    r"\bv?\d+\.\d+|changelog|release notes?|which version|what version|版本|更新日志|发布说明", re.I
)


def is_changelog(path: str) -> bool:
    return bool(_CHANGELOG_RE.search(path))


def asks_about_changes(query: str) -> bool:
    return bool(_ASKS_ABOUT_CHANGES_RE.search(query))


def demote_changelogs(hits: list[Hit], query: str, places: int) -> list[Hit]:
    """Each changelog hit moves `places` positions down (0: the order is kept). Scores are
    untouched: they are the ranking model's, the order is the final ranking."""
    if places <= 0 or asks_about_changes(query):
        return hits
    order = sorted(range(len(hits)), key=lambda i: i + (places + 0.5 if is_changelog(hits[i].path) else 0))
    return [hits[i] for i in order]
