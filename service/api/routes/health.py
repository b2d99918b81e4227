from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ComponentsDep

router = APIRouter()


@router.get("/healthz")
def healthz(components: ComponentsDep) -> dict[str, object]:
    return {"ok": True, "chunks": components.store.count(), "embedding_model": components.embedder.name}
