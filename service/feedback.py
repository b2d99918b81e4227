"""Feedback on answers (👍/👎 from the widget), kept in SQLite under OSSQA_DATA_DIR.

store = FeedbackStore(Path(".data") / "feedback.sqlite3")
store.add(FeedbackRecord(project="fastapi", conversation_id="c1", rating="up", question="..."))
rows = store.export(project="fastapi")
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from service.sqlite_file import AppendOnlyTable, connect

Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    project TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    turn INTEGER NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    comment TEXT NOT NULL,
    channel TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_project ON feedback (project, created_at);
"""


@dataclass(frozen=True)
class FeedbackRecord:
    project: str
    conversation_id: str
    rating: Rating
    turn: int = 0  # which answer of the conversation (0 = first)
    question: str = ""
    answer: str = ""
    comment: str = ""
    channel: str = "widget"
    created_at: float = 0.0
    id: int = 0


class FeedbackStore(AppendOnlyTable):
    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def add(self, record: FeedbackRecord) -> FeedbackRecord:
        row = asdict(record)
        row.pop("id")
        row["created_at"] = record.created_at or time.time()
        return FeedbackRecord(**{**row, "id": self.insert("feedback", row)})

    def export(self, *, project: str | None = None, since: float = 0.0) -> list[dict[str, Any]]:
        sql = "SELECT * FROM feedback WHERE created_at >= ?"
        args: list[Any] = [since]
        if project:
            sql += " AND project = ?"
            args.append(project)
        with connect(self.path) as db:
            return [dict(r) for r in db.execute(sql + " ORDER BY id", args)]

    def summary(self, project: str) -> dict[str, int]:
        with connect(self.path) as db:
            rows = db.execute(
                "SELECT rating, COUNT(*) FROM feedback WHERE project = ? GROUP BY rating", (project,)
            ).fetchall()
        counts = {"up": 0, "down": 0}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts
