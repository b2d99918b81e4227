"""GitHub discussions and issues: read an export, or fetch one live through the GitHub API.

The export is a JSON array or JSONL file of records in the shape GitHub's APIs return:
discussions as GraphQL `Discussion` nodes (`number, title, body, url, createdAt, updatedAt,
category, labels, answer, comments{nodes}`), issues as REST issue objects (`number, title,
body, html_url, state, labels, created_at, updated_at, reactions`) whose `comments` holds the
comment objects (REST gives only a count there; the fetcher fills the list in).

Each record becomes one Document: a discussion is its question, the accepted answer and the
most useful replies (by upvotes/reactions); an issue is its report and its most useful
comments. Paths are `discussions/<number>` and `issues/<number>`.

    docs = load_export(Path("export.jsonl"))
    records = fetch_github("fastapi", "fastapi", token, client=httpx.Client())
    write_export(records, Path("export.json"))
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ingest.errors import SourceError
from ingest.sources import Skipped
from ingest.types import Document

MAX_REPLIES = 3
MAX_ISSUE_COMMENTS = 5
# Reactions that say "this helped"; confused/-1 do not.
_POSITIVE = ("+1", "heart", "hooray", "rocket", "laugh", "eyes")


class GitHubError(SourceError):
    """The GitHub API refused or failed a request (bad token, rate limit, unknown repo)."""


# -- export -> Documents ----------------------------------------------------------------------
def load_export(path: Path) -> list[Document | Skipped]:
    """Read a JSON array or JSONL export; bad records are Skipped, an unreadable file raises.

    Raises:
        SourceError: the file cannot be read, is not UTF-8, or is not JSON/JSONL at all.
    """
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SourceError(f"cannot read export {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(f"export {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc

    out: dict[str, Document | Skipped] = {}
    for where, record in _records(raw, path.name):
        item = record if isinstance(record, Skipped) else _to_document(record, where)
        previous = out.get(item.path)
        # A record listed twice (appended JSONL) keeps its newest version.
        if isinstance(previous, Document) and (
            isinstance(item, Skipped) or previous.updated_at > item.updated_at
        ):
            continue
        out[item.path] = item
    return list(out.values())


def _records(raw: str, name: str) -> Iterator[tuple[str, Any]]:
    text = raw.strip()
    if not text:
        return
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"export {name} is not valid JSON: {exc}") from exc
        for i, rec in enumerate(data):
            yield f"{name}: record {i + 1}", rec
        return
    try:  # a single JSON object (possibly pretty-printed over many lines)
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        yield from _unwrap(data, name)
        return
    # JSONL: one record per line; a bad line is one skipped record, not a dead file.
    good = 0
    lines = raw.splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}: line {lineno}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            yield where, Skipped(where, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        good += 1
        yield where, rec
    if good == 0:
        raise SourceError(f"export {name} is neither a JSON array nor JSONL: no line parses as JSON")


def _unwrap(data: dict[str, Any], name: str) -> Iterator[tuple[str, Any]]:
    """A lone record, `{"discussions": [...], "issues": [...]}`, or a raw GraphQL response."""
    repo = (data.get("data") or {}).get("repository") if isinstance(data.get("data"), dict) else None
    if isinstance(repo, dict):
        data = {k: _nodes(v) for k, v in repo.items()}
    lists = [k for k in ("discussions", "issues") if isinstance(data.get(k), list)]
    if not lists:
        yield f"{name}: record 1", data
        return
    for key in lists:
        for i, rec in enumerate(data[key]):
            yield f"{name}: {key} {i + 1}", rec


def _nodes(value: Any) -> Any:
    """GraphQL connections (`{nodes: [...]}` or `{edges: [{node}]}`) as plain lists."""
    if isinstance(value, dict):
        if isinstance(value.get("nodes"), list):
            return value["nodes"]
        if isinstance(value.get("edges"), list):
            return [e.get("node") for e in value["edges"] if isinstance(e, dict)]
    return value


def _is_discussion(rec: dict[str, Any]) -> bool:
    url = str(rec.get("html_url") or rec.get("url") or "")
    return (
        rec.get("__typename") == "Discussion"
        or "/discussions/" in url
        or any(k in rec for k in ("answer", "answer_html_url", "answerChosenAt", "category"))
    )


def _number(rec: dict[str, Any]) -> int | None:
    value = rec.get("number")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def _to_document(rec: Any, where: str) -> Document | Skipped:
    if not isinstance(rec, dict):
        return Skipped(where, f"expected a JSON object, got {type(rec).__name__}")
    number = _number(rec)
    if number is None:
        return Skipped(where, "missing or invalid `number`")
    kind = "discussion" if _is_discussion(rec) else "issue"
    path = f"{kind}s/{number}"
    title, body = rec.get("title"), rec.get("body")
    if not isinstance(title, str) or not title.strip():
        return Skipped(path, "missing `title`")
    if body is not None and not isinstance(body, str):
        return Skipped(path, "`body` is not a string")
    # REST issues carry a comment count here; exports carry the comment objects.
    raw_comments = _nodes(rec.get("comments"))
    comments = [c for c in raw_comments if isinstance(c, dict)] if isinstance(raw_comments, list) else []
    text = (
        _discussion_markdown(rec, title, body or "", comments)
        if kind == "discussion"
        else _issue_markdown(rec, title, body or "", comments)
    )
    return Document(
        path=path,
        text=text,
        source_type=kind,  # type: ignore[arg-type]
        title=title.strip(),
        url=_html_url(rec),
        updated_at=str(rec.get("updated_at") or rec.get("updatedAt") or ""),
    )


def _html_url(rec: dict[str, Any]) -> str:
    for key in ("html_url", "url"):
        url = rec.get(key)
        if isinstance(url, str) and url.startswith("http") and "api.github.com" not in url:
            return url
    return ""


def _count(value: Any) -> int | None:
    """A count as GitHub writes it (an integer), else None: a hand-edited export can hold
    anything here, and one odd value must not sink the whole file."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _score(item: dict[str, Any]) -> int:
    """Upvotes (discussions) or positive reactions (REST and GraphQL)."""
    upvotes = _count(item.get("upvoteCount"))
    if upvotes is not None:
        return upvotes
    reactions = item.get("reactions")
    if isinstance(reactions, dict):
        total = _count(reactions.get("totalCount"))
        return total if total is not None else sum(_count(reactions.get(k)) or 0 for k in _POSITIVE)
    return 0


def _author(item: dict[str, Any]) -> str:
    who = item.get("author") or item.get("user") or {}
    return str(who.get("login") or "") if isinstance(who, dict) else ""


def _is_bot(item: dict[str, Any]) -> bool:
    who = item.get("user") or item.get("author") or {}
    return isinstance(who, dict) and (
        who.get("type") == "Bot" or who.get("__typename") == "Bot" or _author(item).endswith("[bot]")
    )


def _labels(rec: dict[str, Any]) -> list[str]:
    out = []
    labels = _nodes(rec.get("labels"))
    for label in labels if isinstance(labels, list) else []:
        name = label.get("name") if isinstance(label, dict) else label
        if isinstance(name, str) and name:
            out.append(name)
    return out


def _best(comments: list[dict[str, Any]], limit: int, exclude: str = "") -> list[dict[str, Any]]:
    """The `limit` highest-scored human comments, in thread order."""
    useful = [
        (i, c)
        for i, c in enumerate(comments)
        if isinstance(c.get("body"), str)
        and c["body"].strip()
        and not _is_bot(c)
        and not (exclude and c["body"].strip() == exclude)
    ]
    top = sorted(useful, key=lambda ic: (-_score(ic[1]), ic[0]))[:limit]
    return [c for _, c in sorted(top, key=lambda ic: ic[0])]


_HEADING_LINE_RE = re.compile(r"^(\s{0,3})#{1,6}\s+(.*?)\s*#*\s*$")
_FENCE_LINE_RE = re.compile(r"^\s*(`{3,}|~{3,})")


def demote_headings(markdown: str) -> str:
    """User-written headings become bold lines, so the thread keeps our own section layout."""
    out, fence = [], ""
    for line in markdown.replace("\r\n", "\n").splitlines():
        m = _FENCE_LINE_RE.match(line)
        if m and (not fence or m.group(1)[0] == fence[0]):
            fence = "" if fence else m.group(1)
        elif not fence and (h := _HEADING_LINE_RE.match(line)) and h.group(2):
            line = f"{h.group(1)}**{h.group(2)}**"
        out.append(line)
    return "\n".join(out).strip()


def _meta_line(rec: dict[str, Any]) -> str:
    parts = []
    category = rec.get("category")
    if isinstance(category, dict) and category.get("name"):
        parts.append(f"Category: {category['name']}")
    state = rec.get("state") or ("closed" if rec.get("closed") is True else "")
    if isinstance(state, str) and state:
        parts.append(f"State: {state.lower()}")
    if labels := _labels(rec):
        parts.append("Labels: " + ", ".join(labels))
    return " · ".join(parts)


def _discussion_markdown(rec: dict[str, Any], title: str, body: str, comments: list[dict[str, Any]]) -> str:
    blocks = [f"# {title.strip()}"]
    if meta := _meta_line(rec):
        blocks.append(meta)
    blocks.append(demote_headings(body) or "(no description)")
    answer = rec.get("answer")
    answer_body = answer.get("body") if isinstance(answer, dict) else None
    if isinstance(answer_body, str) and answer_body.strip():
        blocks += ["## Accepted answer", demote_headings(answer_body)]
    exclude = answer_body.strip() if isinstance(answer_body, str) else ""
    for reply in _best(comments, MAX_REPLIES, exclude):
        blocks += ["## Reply", demote_headings(reply["body"])]
    return "\n\n".join(blocks) + "\n"


def _issue_markdown(rec: dict[str, Any], title: str, body: str, comments: list[dict[str, Any]]) -> str:
    blocks = [f"# {title.strip()}"]
    if meta := _meta_line(rec):
        blocks.append(meta)
    blocks.append(demote_headings(body) or "(no description)")
    for comment in _best(comments, MAX_ISSUE_COMMENTS):
        blocks += ["## Comment", demote_headings(comment["body"])]
    return "\n\n".join(blocks) + "\n"


# -- live fetcher -----------------------------------------------------------------------------
GITHUB_API_URL = "https://api.github.com"

DISCUSSIONS_QUERY = """
query($owner: String!, $name: String!, $cursor: String, $pageSize: Int!) {
  repository(owner: $owner, name: $name) {
    discussions(first: $pageSize, after: $cursor, orderBy: {field: UPDATED_AT, direction: DESC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        __typename number title body url createdAt updatedAt closed upvoteCount
        category { name }
        labels(first: 20) { nodes { name } }
        author { login }
        answer { body url upvoteCount createdAt author { login } }
        comments(first: 50) {
          totalCount
          nodes { body url upvoteCount createdAt author { __typename login } reactions { totalCount } }
        }
      }
    }
  }
}
"""


def fetch_github(
    owner: str,
    repo: str,
    token: str,
    *,
    client: httpx.Client,
    api_url: str = GITHUB_API_URL,
    include: tuple[str, ...] = ("discussions", "issues"),
    limit: int | None = None,
    page_size: int = 50,
) -> list[dict[str, Any]]:
    """Fetch discussions (GraphQL) and issues with their comments (REST) as export records.

    `limit` bounds the records of each kind (newest updated first). Pull requests are left out.

    Raises:
        GitHubError: missing/bad token, rate limit, unknown repository, API error.
    """
    if not token:
        raise GitHubError("set GITHUB_TOKEN to fetch from the GitHub API (GraphQL needs a token)")
    api = _Api(client, api_url.rstrip("/"), token)
    records: list[dict[str, Any]] = []
    if "discussions" in include:
        records += _fetch_discussions(api, owner, repo, limit, page_size)
    if "issues" in include:
        records += _fetch_issues(api, owner, repo, limit, page_size)
    return records


def write_export(records: list[dict[str, Any]], path: Path) -> None:
    """JSONL when the name ends in .jsonl, else one JSON array."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        if path.suffix == ".jsonl":
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            json.dump(records, fh, ensure_ascii=False, indent=1)
    tmp.replace(path)  # never leave a half-written export behind


class _Api:
    def __init__(self, client: httpx.Client, base: str, token: str) -> None:
        self.client = client
        self.base = base
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return self._send("GET", url, params=params)

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        # GitHub Enterprise serves GraphQL at /api/graphql next to the REST /api/v3.
        url = self.base[: -len("/v3")] + "/graphql" if self.base.endswith("/v3") else self.base + "/graphql"
        data = self._send("POST", url, json={"query": query, "variables": variables}).json()
        if data.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in data["errors"])
            raise GitHubError(f"GitHub GraphQL error: {messages}")
        return data.get("data") or {}

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if not url.startswith("http"):
            url = self.base + url
        try:
            resp = self.client.request(method, url, headers=self.headers, timeout=30, **kwargs)
        except httpx.HTTPError as exc:
            raise GitHubError(f"cannot reach the GitHub API at {url}: {exc}") from exc
        if resp.status_code == 401:
            raise GitHubError("GitHub rejected the token (401): check GITHUB_TOKEN")
        if resp.status_code in (403, 429) and (
            resp.headers.get("x-ratelimit-remaining") == "0" or "rate limit" in resp.text.lower()
        ):
            reset = resp.headers.get("x-ratelimit-reset", "")
            raise GitHubError(f"GitHub API rate limit reached (resets at unix time {reset or '?'})")
        if resp.status_code == 404:
            raise GitHubError(f"not found on GitHub: {url} (unknown repository, or the token cannot see it)")
        if resp.status_code >= 400:
            raise GitHubError(f"GitHub API error {resp.status_code} for {url}: {resp.text[:200]}")
        return resp


def _fetch_discussions(
    api: _Api, owner: str, repo: str, limit: int | None, page_size: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while limit is None or len(out) < limit:
        data = api.graphql(
            DISCUSSIONS_QUERY, {"owner": owner, "name": repo, "cursor": cursor, "pageSize": page_size}
        )
        repository = data.get("repository")
        if repository is None:
            raise GitHubError(f"repository {owner}/{repo} not found (or discussions are not enabled)")
        page = repository["discussions"]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
    return out[:limit] if limit is not None else out


def _fetch_issues(
    api: _Api, owner: str, repo: str, limit: int | None, page_size: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url: str | None = f"/repos/{owner}/{repo}/issues"
    params: dict[str, Any] | None = {"state": "all", "per_page": page_size, "sort": "updated"}
    while url and (limit is None or len(out) < limit):
        resp = api.get(url, params=params)
        for issue in resp.json():
            if "pull_request" in issue:  # the issues endpoint lists pull requests too
                continue
            if issue.get("comments"):
                issue = {**issue, "comments": _all_pages(api, issue["comments_url"])}
            else:
                issue = {**issue, "comments": []}
            out.append(issue)
        # Follow the Link header; its URL already carries the query.
        url, params = resp.links.get("next", {}).get("url"), None
    return out[:limit] if limit is not None else out


def _all_pages(api: _Api, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    params: dict[str, Any] | None = {"per_page": 100}
    while next_url:
        resp = api.get(next_url, params=params)
        items += resp.json()
        next_url, params = resp.links.get("next", {}).get("url"), None
    return items
