"""Refusal thresholds a maintainer sets per project (`PUT /admin/projects/P/refusal-threshold`,
`ossqa refusal-threshold P VALUE`), kept in manifest.json. They win over REFUSAL_THRESHOLD and
the defaults, for that project only. Read again only when the file changes."""

from __future__ import annotations

import threading
from pathlib import Path

from ingest.manifest import FILENAME, read_manifest, set_refusal_threshold


class ProjectThresholds:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._seen: tuple[tuple[int, int], dict[str, float]] = ((-1, -1), {})
        self._lock = threading.Lock()

    def get(self, project: str) -> float | None:
        try:
            st = (self.data_dir / FILENAME).stat()
        except FileNotFoundError:
            return None
        version = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._seen[0] != version:
                values = read_manifest(self.data_dir).get("refusal_thresholds", {})
                self._seen = (version, {k: float(v) for k, v in values.items()})
            return self._seen[1].get(project)

    def set(self, project: str, value: float | None) -> float | None:
        """Set (None clears) and return the previous value."""
        return set_refusal_threshold(self.data_dir, project, value)
