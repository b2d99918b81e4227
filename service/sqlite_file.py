"""Short SQLite connections for the small append-only tables under OSSQA_DATA_DIR (feedback,
the question log): one connection per call, so any worker thread may use them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        with db:  # commits, or rolls back on error
            yield db
    finally:
        db.close()
