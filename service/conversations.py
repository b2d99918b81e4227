"""Conversation history for follow-up questions.

SQLite under OSSQA_DATA_DIR by default; DATABASE_URL=postgresql://... selects PostgreSQL
(`pip install psycopg[binary]`, the `postgres` extra).

    conversations = open_conversations(data_dir=Path(".data"), database_url="")
    conversations.append(cid, "user", "How do I enable CORS?", standalone="How do I enable CORS?")
    condense_query("and how do I test it?", conversations.history(cid))

Condensing is deterministic rather than a model call: on one CPU thread a 0.5B model takes
10+ s to rewrite a query and sometimes drops the topic. A follow-up (short, or opening with
"and", "what about", a pronoun, 那/还有/它...) is joined with the previous standalone question.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

HISTORY_TURNS = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversation_turns (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    standalone TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (conversation_id, seq)
)
"""


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str
    standalone: str = ""  # for user turns: the query actually used for retrieval


class Conversations(Protocol):
    def history(self, conversation_id: str, limit: int = HISTORY_TURNS) -> list[Turn]: ...

    def append(self, conversation_id: str, role: str, content: str, *, standalone: str = "") -> None: ...

    def close(self) -> None: ...


class _SQLConversations:
    """Shared SQL for both engines; `_param` is the driver's placeholder."""

    _param = "?"

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()  # one connection, used from worker threads
        with self._lock:
            self._conn.execute(SCHEMA)
            self._conn.commit()

    def history(self, conversation_id: str, limit: int = HISTORY_TURNS) -> list[Turn]:
        p = self._param
        with self._lock:
            rows = self._conn.execute(
                f"SELECT role, content, standalone FROM conversation_turns WHERE conversation_id = {p} "
                f"ORDER BY seq DESC LIMIT {p}",
                (conversation_id, limit),
            ).fetchall()
        return [Turn(r[0], r[1], r[2]) for r in reversed(rows)]

    def append(self, conversation_id: str, role: str, content: str, *, standalone: str = "") -> None:
        p = self._param
        with self._lock:
            row = self._conn.execute(
                f"SELECT COALESCE(MAX(seq), 0) FROM conversation_turns WHERE conversation_id = {p}",
                (conversation_id,),
            ).fetchone()
            self._conn.execute(
                "INSERT INTO conversation_turns"
                " (conversation_id, seq, role, content, standalone, created_at)"
                f" VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
                (conversation_id, int(row[0]) + 1, role, content, standalone, time.time()),
            )
            self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SQLiteConversations(_SQLConversations):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(sqlite3.connect(str(path), check_same_thread=False))


class PostgresConversations(_SQLConversations):
    _param = "%s"

    def __init__(self, url: str) -> None:
        import psycopg  # optional dependency: the `postgres` extra

        super().__init__(psycopg.connect(url))


def open_conversations(*, data_dir: Path, database_url: str = "") -> Conversations:
    if database_url.startswith(("postgres://", "postgresql://")):
        return PostgresConversations(database_url)
    if database_url.startswith("sqlite:///"):
        return SQLiteConversations(Path(database_url.removeprefix("sqlite:///")))
    if database_url:
        raise ValueError("DATABASE_URL must start with postgresql:// or sqlite:///")
    return SQLiteConversations(Path(data_dir) / "conversations.sqlite3")


_FOLLOW_UP_RE = re.compile(
    r"^\s*(and|also|but|so|then|what about|how about|what if|why|how come|ok|okay)\b"
    r"|\b(it|its|this|that|these|those|them|they|there|the same|one)\b"
    r"|^\s*(那|那么|还有|并且|而且|另外|然后|如果)|它|这个|那个|这些|那些|其",
    re.IGNORECASE,
)
_FOLLOW_UP_MAX_WORDS = 8


def is_follow_up(question: str) -> bool:
    words = re.findall(r"\w+", question)
    short = len(words) <= _FOLLOW_UP_MAX_WORDS and len(question) <= 60
    return short or bool(_FOLLOW_UP_RE.search(question) and len(words) <= 20)


def condense_query(question: str, history: list[Turn]) -> str:
    """A standalone retrieval query for `question` given the conversation so far."""
    previous = next((t for t in reversed(history) if t.role == "user"), None)
    if previous is None or not is_follow_up(question):
        return question
    topic = previous.standalone or previous.content
    return f"{question.strip()} ({topic.strip()})"
