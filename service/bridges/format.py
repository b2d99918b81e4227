"""Render an `Answer` as chat text: Slack mrkdwn or Discord markdown. Pure functions.

Citation markers `[n]` become links to the cited page (not inside code, where `rows[1]` is an
index); a refusal says so first and lists the
closest pages; an LLM failure shows its message and still the retrieved links.
"""

from __future__ import annotations

import re

from service.markdown import outside_code
from service.types import Answer, Citation

DISCORD_MAX_CHARS = 2000
SLACK_MAX_CHARS = 3500  # one section of text stays readable well under Slack's 40k limit
_MARKER = re.compile(r"\[(\d{1,3})\]")


def _safe_url(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def refusal_heading(project: str) -> str:
    return f"The {project + ' ' if project else ''}docs don't cover this, so I won't guess."


def _sources(answer: Answer) -> tuple[str, list[Citation]]:
    if answer.refused:
        return "Closest pages", answer.closest or answer.citations
    return "Sources", answer.citations


# -- Slack ----------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack needs only &, < and > escaped in mrkdwn (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, label: str) -> str:
    url = _safe_url(url)
    label = slack_escape(label).replace("|", "¦")
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{label}>" if url else label


def slack_text(answer: Answer, project: str) -> str:
    by_n = {c.n: c for c in answer.citations}

    def link_marker(m: re.Match[str]) -> str:
        cite = by_n.get(int(m.group(1)))
        return _slack_link(cite.url, m.group(0)) if cite else m.group(0)

    parts: list[str] = []
    if answer.error:
        parts.append(f":warning: I couldn't generate an answer: {slack_escape(answer.error)}")
    elif answer.refused:
        parts.append(f":grey_question: *{slack_escape(refusal_heading(project))}*")
        if answer.answer:
            parts.append(slack_escape(answer.answer))
    else:
        parts.append(outside_code(slack_escape(answer.answer), lambda t: _MARKER.sub(link_marker, t)))
    heading, cites = _sources(answer)
    if cites:
        lines = [f"• {_slack_link(c.url, f'[{c.n}] {c.title or c.path}')}" for c in cites]
        parts.append(f"*{heading}*\n" + "\n".join(lines))
    text = "\n\n".join(parts)
    return text if len(text) <= SLACK_MAX_CHARS else text[: SLACK_MAX_CHARS - 1] + "…"


# -- Discord --------------------------------------------------------------------------------


def _discord_label(text: str) -> str:
    return re.sub(r"([\[\]()\\*_`~|])", r"\\\1", text)


def _discord_link(url: str, label: str) -> str:
    url = _safe_url(url)
    # <url> inside the link keeps Discord from unfurling a preview for every source.
    return f"[{_discord_label(label)}](<{url}>)" if url else _discord_label(label)


def discord_text(answer: Answer, project: str, *, limit: int = DISCORD_MAX_CHARS) -> str:
    by_n = {c.n: c for c in answer.citations}

    def link_marker(m: re.Match[str]) -> str:
        cite = by_n.get(int(m.group(1)))
        return _discord_link(cite.url, m.group(0)) if cite and _safe_url(cite.url) else m.group(0)

    if answer.error:
        body = f":warning: I couldn't generate an answer: {answer.error}"
    elif answer.refused:
        body = f"**{refusal_heading(project)}**" + (f"\n{answer.answer}" if answer.answer else "")
    else:
        body = outside_code(answer.answer, lambda t: _MARKER.sub(link_marker, t))
    heading, cites = _sources(answer)
    sources = ""
    if cites:
        lines = [_discord_link(c.url, f"[{c.n}] {c.title or c.path}") for c in cites]
        sources = f"\n\n**{heading}**\n" + "\n".join(lines)
    if len(body) + len(sources) > limit:
        # Keep the links: they are how the reader checks the answer.
        room = max(0, limit - len(sources) - 1)
        body = body[:room] + "…"
    return (body + sources)[:limit]
