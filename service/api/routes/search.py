from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from service.api.deps import RetrieverDep
from service.api.schemas import HitPublic, SearchRequest, SearchResponse

router = APIRouter()


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, retriever: RetrieverDep) -> SearchResponse:
    timings: dict[str, float] = {}
    hits = await run_in_threadpool(
        retriever.search,
        body.project,
        body.query,
        top_k=body.top_k,
        source_types=tuple(body.source_types or ()),
        mode=body.mode,
        rerank=body.rerank,
        timings=timings,
    )
    return SearchResponse(
        hits=[
            HitPublic(
                path=h.path,
                url=h.url,
                title=h.title,
                breadcrumb=h.breadcrumb,
                text=h.text,
                score=h.score,
                source_type=h.source_type,
            )
            for h in hits
        ],
        timings_ms=timings,
    )
