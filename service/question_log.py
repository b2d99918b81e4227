"""Every question `/ask` received and what became of it, kept in SQLite under OSSQA_DATA_DIR.

Maintainers read it to find what their docs do not answer: the refused questions, with the
closest pages ossqa found (`GET /admin/questions?outcome=refused`), and how many questions a
project gets and refuses (`GET /projects/{project}`). QUESTION_LOG=false keeps nothing.

log = QuestionLog(Path(".data") / "questions.sqlite3")
log.add(LoggedQuestion(project="fastapi", question="...", outcome="refused", confidence=0.08))
rows = log.export(project="fastapi", outcome="refused")
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from service.sqlite_file import AppendOnlyTable, connect

QUESTION_LOG_FILE = "questions.sqlite3"
Outcome = Literal["answered", "refused", "error"]
OUTCOMES: tuple[Outcome, ...] = ("answered", "refused", "error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    project TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    question TEXT NOT NULL,
    standalone TEXT NOT NULL,
    lang TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'refused', 'error')),
    confidence REAL NOT NULL,
    paths TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_project ON questions (project, outcome, created_at);
"""


@dataclass(frozen=True)
class LoggedQuestion:
    project: str
    question: str
    outcome: Outcome
    confidence: float
    conversation_id: str = ""
    channel: str = "api"  # api, widget, slack, discord
    standalone: str = ""  # the follow-up condensed with its history, as retrieval saw it
    lang: str = "en"
    paths: tuple[str, ...] = ()  # cited pages, or the closest ones for a refusal
    created_at: float = 0.0


class QuestionLog(AppendOnlyTable):
    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def add(self, entry: LoggedQuestion) -> None:
        row = asdict(entry)
        row["paths"] = json.dumps(list(entry.paths))
        row["created_at"] = entry.created_at or time.time()
        self.insert("questions", row)

    def export(
        self,
        *,
        project: str | None = None,
        outcome: Outcome | None = None,
        since: float = 0.0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Newest first."""
        sql = "SELECT * FROM questions WHERE created_at >= ?"
        args: list[Any] = [since]
        if project:
            sql += " AND project = ?"
            args.append(project)
        if outcome:
            sql += " AND outcome = ?"
            args.append(outcome)
        with connect(self.path) as db:
            rows = [dict(r) for r in db.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])]
        for r in rows:
            r["paths"] = json.loads(r["paths"])
        return rows

    def summary(self, project: str) -> dict[str, int]:
        with connect(self.path) as db:
            rows = db.execute(
                "SELECT outcome, COUNT(*) FROM questions WHERE project = ? GROUP BY outcome", (project,)
            ).fetchall()
        counts = dict.fromkeys(OUTCOMES, 0)
        counts.update({r[0]: int(r[1]) for r in rows})
        return {"asked": sum(counts.values()), **counts}
