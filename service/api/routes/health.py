from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ComponentsDep, SettingsDep

router = APIRouter()


@router.get("/healthz")
def healthz(components: ComponentsDep, settings: SettingsDep) -> dict[str, object]:
    # Which model answers, so a maintainer can see what LOCAL_LLM / LLM_BASE_URL took effect.
    # The server's URL is not shown: it may carry credentials.
    answer_model = (
        {"backend": "remote", "model": settings.llm_model}
        if settings.llm_base_url
        else {"backend": "local", "model": settings.local_llm}
    )
    return {
        "ok": True,
        "chunks": components.store.count(),
        "embedding_model": components.embedder.name,
        "answer_model": answer_model,
    }
