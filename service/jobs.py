"""Ingest jobs run inside the serving process, which owns the data directory. One worker
thread runs them in order, so two ingests never interleave writes to one project; deleting a
project runs on the same thread."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.api.schemas import IngestJobCreate, IngestJobPublic
from service.container import Components, ProjectDeletion
from service.errors import ProjectBusy


class IngestJobs:
    def __init__(self, components: Components) -> None:
        self._components = components
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
        self._jobs: dict[str, IngestJobPublic] = {}
        self._lock = threading.Lock()

    def submit(self, req: IngestJobCreate) -> IngestJobPublic:
        job = IngestJobPublic(id=uuid.uuid4().hex, project=req.project, state="queued")
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job.id, req)
        return job

    def delete_project(self, project: str) -> ProjectDeletion | None:
        """Delete now, on the worker thread (waits for other projects' queued ingests)."""
        with self._lock:
            if any(j.project == project and j.state in ("queued", "running") for j in self._jobs.values()):
                raise ProjectBusy(project)
        return self._pool.submit(self._components.delete_project, project).result()

    def get(self, job_id: str) -> IngestJobPublic | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _set(self, job_id: str, **changes: object) -> None:
        with self._lock:
            self._jobs[job_id] = self._jobs[job_id].model_copy(update=changes)

    def _run(self, job_id: str, req: IngestJobCreate) -> None:
        self._set(job_id, state="running")
        try:
            report = self._components.ingest(
                req.project,
                path=Path(req.path) if req.path else None,
                discussions=Path(req.discussions) if req.discussions else None,
                url_template=req.url_template,
            )
            self._set(job_id, state="done", summary=report.summary())
        except Exception as exc:  # reported to the caller through the job, not raised
            self._set(job_id, state="failed", error=f"{type(exc).__name__}: {exc}")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
