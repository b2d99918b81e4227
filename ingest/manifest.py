"""`manifest.json` beside the index: what built it (embedding model, dimension, chunking,
collection) and, per project, the documents and their hashes after the last ingest.

Opening an index with a different embedding model would silently return nonsense (or fail
deep in the engine), so `check_manifest` refuses with a message that says what to do.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.errors import IngestError

FILENAME = "manifest.json"


class ManifestMismatch(IngestError):
    pass


def read_manifest(data_dir: Path) -> dict[str, Any]:
    path = Path(data_dir) / FILENAME
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ManifestMismatch(f"{path} is unreadable ({exc}); move it away to rebuild it") from exc


# The server writes the manifest from its ingest worker and from admin routes: each change is
# a read-modify-write under this lock, so two writers never lose each other's update.
_LOCK = threading.Lock()


@contextmanager
def _editing(data_dir: Path) -> Iterator[dict[str, Any]]:
    """The manifest to change in place; written back (whole, atomically) on leaving."""
    with _LOCK:
        manifest = read_manifest(data_dir)
        yield manifest
        _write(Path(data_dir), manifest)


def _write(data_dir: Path, manifest: dict[str, Any]) -> None:
    # Write-then-rename so a crash never leaves half a manifest.
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".manifest-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
    os.replace(tmp, Path(data_dir) / FILENAME)


def check_manifest(data_dir: Path, index: dict[str, Any]) -> None:
    """Record `index` (embedding model, dim, collection, chunking) or refuse a mismatch."""
    manifest = read_manifest(data_dir)
    old = manifest.get("index")
    if old and (old.get("embedding_model"), old.get("dim")) != (index["embedding_model"], index["dim"]):
        raise ManifestMismatch(
            f"the index in {data_dir} was built with embedding model {old.get('embedding_model')!r} "
            f"(dim {old.get('dim')}); set EMBEDDING_MODEL={old.get('embedding_model')} or use a new "
            "OSSQA_DATA_DIR and ingest again"
        )
    if old != index:
        with _editing(data_dir) as current:
            current["index"] = index


def record_ingest(data_dir: Path, project: str, summary: dict[str, Any], documents: dict[str, str]) -> None:
    with _editing(data_dir) as manifest:
        manifest.setdefault("projects", {})[project] = {
            "last_ingest": datetime.now(tz=UTC).isoformat(timespec="seconds"),
            "last_report": summary,
            "documents": documents,
        }


def forget_project(data_dir: Path, project: str) -> bool:
    """Drop a project's entry and its settings; False when it had no entry."""
    with _editing(data_dir) as manifest:
        manifest.get("refusal_thresholds", {}).pop(project, None)
        known = manifest.get("projects", {}).pop(project, None) is not None
    return known


def set_refusal_threshold(data_dir: Path, project: str, value: float | None) -> float | None:
    """A maintainer's refusal threshold for one project (None clears it); returns the previous
    one. Kept apart from the project's ingest entry, which each ingest replaces whole."""
    with _editing(data_dir) as manifest:
        thresholds = manifest.setdefault("refusal_thresholds", {})
        previous = thresholds.pop(project, None)
        if value is not None:
            thresholds[project] = value
    return previous
