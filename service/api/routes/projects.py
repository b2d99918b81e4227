from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request

from ingest.manifest import read_manifest
from service.api.deps import ComponentsDep
from service.api.schemas import ProjectPublic, ProjectsPublic
from service.errors import ProjectNotFound

router = APIRouter()


@router.get("/projects", response_model=ProjectsPublic)
def list_projects(components: ComponentsDep) -> ProjectsPublic:
    counts = components.store.projects()
    return ProjectsPublic(projects=[ProjectPublic(name=n, chunks=c) for n, c in sorted(counts.items())])


@router.get("/projects/{project}")
def get_project(project: str, components: ComponentsDep, request: Request) -> dict[str, object]:
    chunks = components.store.count(project)
    if chunks == 0:
        raise ProjectNotFound(project)
    info: dict[str, object] = {"name": project, "chunks": chunks}
    # When the knowledge was last refreshed, and what that ingest did (not its document list).
    recorded = read_manifest(Path(components.settings.ossqa_data_dir)).get("projects", {}).get(project, {})
    info |= {k: recorded[k] for k in ("last_ingest", "last_report") if k in recorded}
    reranker = components.retriever.reranker
    describe = getattr(reranker, "describe", None)
    if callable(describe):
        info["reranker"] = describe(project)
    answerer = getattr(request.app.state, "answerer", None)
    if answerer is not None:  # absent when the answer pipeline could not start
        info["refusal"] = answerer.scorer.describe(project)
    questions = getattr(request.app.state, "questions", None)
    if questions is not None:  # how many were asked, answered, refused (GET /admin/questions lists them)
        info["questions"] = questions.summary(project)
    return info
