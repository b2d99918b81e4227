"""Typed dependencies: routes receive long-lived objects from `app.state`, and tests swap
them with `app.dependency_overrides`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from retrieval import HybridRetriever
from service.container import Components
from service.settings import Settings


def get_components(request: Request) -> Components:
    return request.app.state.components  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_retriever(request: Request) -> HybridRetriever:
    return request.app.state.components.retriever  # type: ignore[no-any-return]


ComponentsDep = Annotated[Components, Depends(get_components)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RetrieverDep = Annotated[HybridRetriever, Depends(get_retriever)]
