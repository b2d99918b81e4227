"""Small append-only SQLite tables under OSSQA_DATA_DIR (feedback, the question log): one short
connection per call, so any worker thread may use them, and another process may read the file
while the server writes it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        with db:  # commits, or rolls back on error
            yield db
    finally:
        db.close()


class AppendOnlyTable:
    """Creates its schema on open; `insert` adds one row and returns its id."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with connect(self.path) as db:
            db.executescript(schema)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._lock, connect(self.path) as db:
            cur = db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", row)
            return int(cur.lastrowid or 0)
