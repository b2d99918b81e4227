"""Ingest errors.

IngestError
 ├── ParseError       one file or record could not be read; it is skipped and reported
 └── SourceError      the source as a whole is unusable (missing folder, bad export file)
"""

from __future__ import annotations


class IngestError(Exception):
    pass


class ParseError(IngestError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SourceError(IngestError):
    pass
