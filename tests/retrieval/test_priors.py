"""Changelog pages move down unless the question asks about versions: real embedded engine,
real packaged embedder, a corpus where the changelog out-scores the page that explains."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Ingester
from ingest.sources import iter_folder
from retrieval import HybridRetriever, RetrievalParams
from retrieval.embedders import BaseEmbedder
from retrieval.priors import asks_about_changes, is_changelog
from retrieval.store.edge import EdgeStore

# The changelog repeats the question's words in one-line entries; the guide explains.
DOCS = {
    "CHANGELOG.md": "# Changelog\n\n## 2.3.0\n\n* Allow a custom timeout for upload retries.\n"
    "* Upload retries: fix the timeout of retries for uploads.\n* Retry uploads after a timeout.\n",
    "docs/uploads.md": "# Uploading files\n\nSend files with `client.upload(path)`.\n\n"
    "## Retries\n\nFailed transfers are attempted again; set `retry_timeout=30` to wait longer.\n",
    "docs/other.md": "# Logging\n\nLogs go to stderr; set `log_level` to change how much is written.\n",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("CHANGELOG.md", True),
        ("HISTORY.md", True),
        ("docs/en/docs/release-notes.md", True),
        ("docs/changes.rst", True),
        ("NEWS", True),
        ("docs/releases/v1.2.md", True),
        ("docs/whatsnew/3.12.rst", True),
        ("docs/release-notes/2024.md", True),
        ("docs/tutorial/release-a-package.md", False),
        ("docs/history/intro.md", False),
        ("docs/history-design-future.md", False),
        ("docs/newsletter.md", False),
        ("docs/tutorial/history.md/intro.md", False),
    ],
)
def test_changelog_paths(path: str, expected: bool) -> None:
    assert is_changelog(path) is expected


def test_questions_about_versions_keep_the_changelog() -> None:
    assert asks_about_changes("It worked on 2.8 but fails on 2.9.1")
    assert asks_about_changes("Which version added retry_timeout?")
    assert asks_about_changes("这个参数是哪个版本加入的？")
    assert not asks_about_changes("How do I make upload retries wait longer?")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    for rel, text in DOCS.items():
        (tmp_path / "docs_root" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "docs_root" / rel).write_text(text, encoding="utf-8")
    return tmp_path / "docs_root"


def test_the_explaining_page_comes_before_the_changelog(
    corpus: Path, tmp_path: Path, embedder: BaseEmbedder
) -> None:
    store = EdgeStore(tmp_path / "edge", dim=embedder.dim)
    try:
        Ingester(store=store, embedder=embedder).ingest("demo", iter_folder(corpus))
        plain = HybridRetriever(store=store, embedder=embedder, params=RetrievalParams(changelog_demotion=0))
        served = HybridRetriever(store=store, embedder=embedder)
        how = "How do I set a timeout for upload retries?"
        assert plain.search("demo", how, top_k=3)[0].path == "CHANGELOG.md"  # the words win
        hits = served.search("demo", how, top_k=3)
        assert [h.path for h in hits][:2] == ["docs/uploads.md", "docs/other.md"]
        assert hits[2].path == "CHANGELOG.md"  # still listed, as a link
        when = "Which version added a timeout for upload retries?"
        assert served.search("demo", when, top_k=3)[0].path == "CHANGELOG.md"
    finally:
        store.close()
