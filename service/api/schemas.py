"""Request and response models of the public API (suffix = direction)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from ingest.types import PROJECT_MAX_CHARS, PROJECT_PATTERN

MAX_QUERY_CHARS = 2000
ProjectName = Field(min_length=1, max_length=PROJECT_MAX_CHARS, pattern=PROJECT_PATTERN)


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty or whitespace")
    return v


class SearchRequest(BaseModel):
    project: str = ProjectName
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int = Field(10, ge=1, le=50)
    source_types: list[Literal["doc", "discussion", "issue"]] | None = None
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    rerank: bool = True

    _q = field_validator("query")(_not_blank)


class HitPublic(BaseModel):
    path: str
    url: str
    title: str
    breadcrumb: str
    text: str
    score: float = Field(
        description="The trained reranker's calibrated probability that the passage answers, for the "
        "candidates its cross-encoder scored (English questions: the top 10 fused); otherwise the "
        "fused (RRF) score"
    )
    source_type: str


class SearchResponse(BaseModel):
    hits: list[HitPublic]
    timings_ms: dict[str, float] = {}


class ProjectPublic(BaseModel):
    name: str
    chunks: int


class ProjectsPublic(BaseModel):
    projects: list[ProjectPublic]


class IngestJobCreate(BaseModel):
    project: str = ProjectName
    path: str | None = None
    discussions: str | None = None
    url_template: str | None = None


class IngestJobPublic(BaseModel):
    id: str
    project: str
    state: Literal["queued", "running", "done", "failed"]
    summary: str = ""
    error: str = ""


class ProjectDeletedPublic(BaseModel):
    project: str
    chunks_deleted: int
    reranker_deleted: bool


class RefusalThresholdSet(BaseModel):
    threshold: float | None = Field(
        ..., ge=0.0, le=1.0, description="answer when the refusal signal >= this; null clears it"
    )


class RefusalThresholdPublic(BaseModel):
    project: str
    threshold: float | None
    previous: float | None
