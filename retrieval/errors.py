"""Retrieval errors.

RetrievalError
 ├── IndexNotFound       the project has nothing indexed
 ├── BackendUnavailable  Qdrant cannot be reached or opened
 │    └── StoreLocked    another process holds the embedded data directory
"""

from __future__ import annotations


class RetrievalError(Exception):
    status = 500


class IndexNotFound(RetrievalError):
    status = 404

    def __init__(self, project: str) -> None:
        super().__init__(f"project {project!r} has no indexed knowledge; ingest it first")
        self.project = project


class BackendUnavailable(RetrievalError):
    status = 503


class StoreLocked(BackendUnavailable):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"the data directory {path} is in use by another ossqa process (a running `ossqa serve`?)"
        )
        self.path = path
