"""One ingest job: a docs folder and/or a GitHub discussions/issues export for a project.
Shared by `ossqa ingest` (direct) and the server's admin ingest route."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ingest.pipeline import Ingester
from ingest.sources import iter_folder, list_folder
from ingest.types import IngestReport


def run_ingest(
    ingester: Ingester,
    project: str,
    *,
    path: Path | None = None,
    discussions: Path | None = None,
    progress: bool = False,
    on_document: Callable[[str], None] | None = None,
) -> IngestReport:
    """Ingest a folder (prunes deleted files) and/or an export (prunes vanished threads)."""
    total = IngestReport()
    jobs = []
    if path is not None:
        files = list_folder(Path(path))
        jobs.append((iter_folder(Path(path), files), ("doc",), len(files)))
    if discussions is not None:
        from ingest.github import load_export

        records = load_export(Path(discussions))
        jobs.append((iter(records), ("discussion", "issue"), len(records)))
    for docs, scope, n in jobs:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n, unit="file", desc=f"ingest {project}", leave=False)

        def tick(p: str, bar=bar) -> None:  # noqa: ANN001
            if bar is not None:
                bar.update(1)
            if on_document:
                on_document(p)

        report = ingester.ingest(project, docs, scope=scope, on_document=tick)
        if bar is not None:
            bar.close()
        total.add(report)
    return total
