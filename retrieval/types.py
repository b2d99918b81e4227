"""Values that leave the retrieval layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One retrieved passage. `score` is the fused (or reranked) score."""

    id: str
    score: float
    path: str
    url: str
    title: str
    breadcrumb: str
    text: str
    source_type: str
    lang: str = ""
    # Scores from individual stages, for refusal features and debugging.
    scores: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, point_id: str, score: float, payload: dict[str, Any]) -> Hit:
        return cls(
            id=str(point_id),
            score=float(score),
            path=str(payload.get("path", "")),
            url=str(payload.get("url", "")),
            title=str(payload.get("title", "")),
            breadcrumb=str(payload.get("breadcrumb", "")),
            text=str(payload.get("text", "")),
            source_type=str(payload.get("source_type", "")),
            lang=str(payload.get("lang", "")),
        )
