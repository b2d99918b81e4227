"""GitHub discussions/issues: the export reader and the live fetcher (against recorded responses
served through httpx.MockTransport, and over a loopback port for the CLI)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import httpx
import pytest
from fake_github import FIXTURES, TOKEN, FakeGitHub
from fuzzing import mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import SourceError
from ingest.github import GitHubError, demote_headings, fetch_github, load_export, write_export
from ingest.sources import Skipped
from ingest.types import Document
from service.cli import main


def fetch(fake: FakeGitHub, **kwargs: object) -> list[dict]:
    with httpx.Client(transport=fake.transport()) as client:
        return fetch_github("acme", "widgets", kwargs.pop("token", TOKEN), client=client, **kwargs)  # type: ignore[arg-type]


def docs_by_path(items: list[Document | Skipped]) -> dict[str, Document]:
    assert all(isinstance(i, Document) for i in items), [i for i in items if isinstance(i, Skipped)]
    return {i.path: i for i in items}  # type: ignore[misc]


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """An export written by the fetcher from the recorded responses."""
    path = tmp_path / "export.json"
    write_export(fetch(FakeGitHub()), path)
    return path


# -- fetcher ---------------------------------------------------------------------------------
def test_fetcher_pages_through_graphql_and_rest_and_drops_pull_requests() -> None:
    fake = FakeGitHub()
    records = fetch(fake)
    numbers = [r["number"] for r in records]
    assert numbers == [101, 102, 95, 210, 205, 190]  # discussions (2 pages), then issues (2 pages)
    assert 211 not in numbers  # a pull request listed by the issues endpoint
    by_number = {r["number"]: r for r in records}
    # Comments were fetched, across the Link-header pages, only for issues that have some.
    assert [c["body"][:9] for c in by_number[210]["comments"]] == ["Confirmed", "Workaroun", "Fixed in "]
    assert by_number[205]["comments"] == []
    paths = [p for _, p in fake.requests]
    assert "/repos/acme/widgets/issues/205/comments" not in " ".join(paths)
    assert any(p.startswith("/repositories/4242/issues?") and "page=2" in p for p in paths)
    assert sum(1 for m, p in fake.requests if m == "POST" and p == "/graphql") == 2
    assert set(fake.auth_headers) == {f"Bearer {TOKEN}"}


def test_fetcher_limit_and_only_one_kind() -> None:
    fake = FakeGitHub()
    records = fetch(fake, include=("discussions",), limit=2)
    assert [r["number"] for r in records] == [101, 102]
    assert all(p == "/graphql" for _, p in fake.requests)
    assert len(fake.requests) == 1  # the first page already held enough


@pytest.mark.parametrize(
    ("fake", "token", "owner", "message"),
    [
        (FakeGitHub(), "", "acme", "set GITHUB_TOKEN"),
        (FakeGitHub(), "wrong", "acme", "rejected the token"),
        (FakeGitHub(rate_limited=True), TOKEN, "acme", "rate limit"),
        (FakeGitHub(), TOKEN, "nobody", "Could not resolve to a Repository"),
    ],
)
def test_fetcher_errors_are_clear(fake: FakeGitHub, token: str, owner: str, message: str) -> None:
    with httpx.Client(transport=fake.transport()) as client, pytest.raises(GitHubError, match=message):
        fetch_github(owner, "widgets", token, client=client)


def test_fetcher_unknown_repo_on_rest_is_not_found() -> None:
    with (
        httpx.Client(transport=FakeGitHub().transport()) as client,
        pytest.raises(GitHubError, match="not found"),
    ):
        fetch_github("acme", "gadgets", TOKEN, client=client, include=("issues",))


def test_fetcher_network_failure_is_a_github_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        httpx.Client(transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(GitHubError, match="reach"),
    ):
        fetch_github("acme", "widgets", TOKEN, client=client)


# -- export -> documents -----------------------------------------------------------------------
def test_discussion_is_question_answer_and_best_replies(export: Path) -> None:
    docs = docs_by_path(load_export(export))
    assert set(docs) == {
        "discussions/101",
        "discussions/102",
        "discussions/95",
        "issues/210",
        "issues/205",
        "issues/190",
    }
    d = docs["discussions/101"]
    assert d.source_type == "discussion"
    assert d.url == "https://github.com/acme/widgets/discussions/101"
    assert d.title == "How do I read settings from a .env file?"
    assert d.updated_at == "2026-10-01T10:00:00Z"
    text = d.text
    assert text.startswith("# How do I read settings from a .env file?\n\nCategory: Q&A · Labels: settings\n")
    # The question's own heading is demoted, its code kept.
    assert "**What I tried**" in text and "## What I tried" not in text
    assert "```python\n# settings.py\nclass Settings(BaseSettings):" in text
    answer_at = text.index("## Accepted answer")
    assert "SettingsConfigDict(env_file=" in text[answer_at:]
    # Best replies by upvotes, bounded to 3, the answer not repeated, the bot left out.
    replies = text.split("## Reply")[1:]
    assert len(replies) == 3
    assert [r.strip()[:12] for r in replies] == ["If you run f", "You can also", "Environment "]
    assert text.count("SettingsConfigDict(env_file") == 1
    assert "stale" not in text and "thanks!" not in text and "Same problem" not in text


def test_unanswered_discussion_and_issue_documents(export: Path) -> None:
    docs = docs_by_path(load_export(export))
    unanswered = docs["discussions/102"].text
    assert "## Accepted answer" not in unanswered and "Not planned for 3.x" in unanswered
    issue = docs["issues/210"]
    assert issue.source_type == "issue"
    assert issue.url == "https://github.com/acme/widgets/issues/210"  # html_url, not the API url
    assert issue.text.startswith(
        "# Crash when the config file is empty\n\nState: closed · Labels: bug, config\n"
    )
    assert "**Steps**" in issue.text
    assert issue.text.count("## Comment") == 3
    empty = docs["issues/205"]
    assert "(no description)" in empty.text and empty.title == "Document the retry option"
    assert "中文文档在 docs/zh 目录下。" in docs["discussions/95"].text


def test_jsonl_and_raw_graphql_responses_load_too(tmp_path: Path, export: Path) -> None:
    records = json.loads(export.read_text(encoding="utf-8"))
    jsonl = tmp_path / "export.jsonl"
    write_export(records, jsonl)
    assert len(jsonl.read_text(encoding="utf-8").splitlines()) == len(records)
    assert docs_by_path(load_export(jsonl)) == docs_by_path(load_export(export))
    # A saved GraphQL response (what `gh api graphql` prints) is accepted as is.
    raw = load_export(FIXTURES / "discussions_page1.json")
    assert sorted(i.path for i in raw) == ["discussions/101", "discussions/102"]


def test_bad_records_are_skipped_one_by_one(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "number": 1,
                "title": "Good issue",
                "body": "Fine.",
                "html_url": "https://github.com/a/b/issues/1",
            }
        ),
        '{"number": 2, "title": "truncated',
        json.dumps(["not", "an", "object"]),
        json.dumps({"title": "No number"}),
        json.dumps({"number": 3, "body": "no title"}),
        json.dumps({"number": 4, "title": "Body is a list", "body": ["x"]}),
        json.dumps(
            {
                "number": 5,
                "title": "Good discussion",
                "body": "Q?",
                "url": "https://github.com/a/b/discussions/5",
            }
        ),
        "",
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    items = load_export(path)
    docs = {i.path for i in items if isinstance(i, Document)}
    skipped = {i.path: i.reason for i in items if isinstance(i, Skipped)}
    assert docs == {"issues/1", "discussions/5"}
    assert set(skipped) == {
        "export.jsonl: line 2",
        "export.jsonl: line 3",
        "export.jsonl: line 4",
        "issues/3",
        "issues/4",
    }
    assert "invalid JSON" in skipped["export.jsonl: line 2"]
    assert "expected a JSON object" in skipped["export.jsonl: line 3"]
    assert "number" in skipped["export.jsonl: line 4"]
    assert "title" in skipped["issues/3"]


def test_a_record_listed_twice_keeps_its_newest_version(tmp_path: Path) -> None:
    old = {
        "number": 7,
        "title": "Q",
        "body": "old text",
        "url": "https://github.com/a/b/discussions/7",
        "updatedAt": "2026-01-01T00:00:00Z",
    }
    new = {**old, "body": "new text", "updatedAt": "2026-02-01T00:00:00Z"}
    path = tmp_path / "e.json"
    path.write_text(json.dumps([new, old]), encoding="utf-8")
    (doc,) = load_export(path)
    assert isinstance(doc, Document) and "new text" in doc.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[{"number": 1, "title": "x"', "not valid JSON"),
        (b"this is not json\nnor this\n", "neither a JSON array nor JSONL"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_unreadable_export_raises_source_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        load_export(path)


def test_missing_export_raises_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read export"):
        load_export(tmp_path / "nope.json")


def test_empty_export_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    assert load_export(path) == []


def test_demote_headings_leaves_code_alone() -> None:
    md = "## Title\n```\n# comment\n```\n  ### Deep ###\n#hashtag"
    assert demote_headings(md) == "**Title**\n```\n# comment\n```\n  **Deep**\n#hashtag"


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_fetch_github_writes_an_export_from_a_live_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeGitHub()
    out = tmp_path / "acme.jsonl"
    with fake.serve() as base:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", base)
        assert main(["fetch-github", "acme/widgets", "--out", str(out)]) == 0
    assert "wrote 6 records" in capsys.readouterr().out
    docs = docs_by_path(load_export(out))
    assert len(docs) == 6
    # Comment pages were followed on the same (enterprise-style) host.
    assert any(p.startswith("/repositories/4242/issues/210/comments") for _, p in fake.requests)


def test_cli_fetch_github_without_token_or_bad_repo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch-github", "acme/widgets", "--out", str(tmp_path / "x.json")]) == 1
    assert "GITHUB_TOKEN" in capsys.readouterr().err
    assert main(["fetch-github", "acme", "--out", str(tmp_path / "x.json")]) == 2
    assert "OWNER/REPO" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


@functools.cache
def _fetched_records() -> tuple[str, ...]:
    return tuple(json.dumps(r) for r in fetch(FakeGitHub()))


@given(data=st.data())
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_mangled_record_is_skipped_or_read_never_an_error(tmp_path: Path, data: st.DataObject) -> None:
    # Real exports from the recorded API, each record with fields dropped, retyped or nested
    # wrongly: the reader keeps what it can and reports the rest, one record at a time.
    records = [data.draw(mutated(json.loads(r))) for r in _fetched_records()]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    items = load_export(path)
    assert len(items) <= len(records)
    for item in items:
        assert isinstance(item, Document | Skipped)
        if isinstance(item, Document):
            assert (
                item.title.strip()
                and item.text.strip()
                and item.path.split("/")[0] in ("issues", "discussions")
            )
        else:
            assert item.reason


def test_odd_reaction_counts_do_not_sink_the_export(tmp_path: Path) -> None:
    # Found by the test above: a list or 1e999 where GitHub writes a count raised TypeError /
    # OverflowError, and the whole file was lost.
    comment = {"body": "Use `--reload`.", "user": {"login": "ada"}, "reactions": {"+1": [1], "heart": 1e999}}
    issue = {"number": 5, "title": "Reload", "body": "How?", "comments": [comment], "updated_at": "2026-01"}
    path = tmp_path / "export.json"
    path.write_text(json.dumps([issue]), encoding="utf-8")
    [doc] = load_export(path)
    assert isinstance(doc, Document) and "Use `--reload`." in doc.text
