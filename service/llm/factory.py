"""Chooses the model backend from Settings: LLM_BASE_URL set -> that server (vLLM, hosted);
empty -> the packaged model on a local llama.cpp server, started lazily on the first request
that needs it (or at startup with LLM_AUTOSTART=true, which `ossqa serve` sets), so the app and
tests that never ask pay nothing for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from service.errors import LLMUnavailable
from service.llm.base import BaseLLM, Completion, Message
from service.llm.local_server import LocalLLMServer, LocalServerError
from service.llm.model_files import PACKAGED_MODELS, ModelFilesError, PackagedModel, ensure_gguf
from service.llm.openai_compat import OpenAICompatLLM
from service.settings import Settings

RETRY_AFTER_FAILURE_S = 30.0


class LocalLLM(BaseLLM):
    """The packaged model behind the same OpenAI-compatible client, server started on demand."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        data_dir: Path,
        model: PackagedModel,
        threads: int,
        ctx: int,
        port: int,
        timeout_s: float,
    ) -> None:
        self.client = client
        self.data_dir = Path(data_dir)
        self.packaged = model
        self.threads, self.ctx, self.port, self.timeout_s = threads, ctx, port, timeout_s
        self.model = "local"
        self.server: LocalLLMServer | None = None
        self._llm: OpenAICompatLLM | None = None
        self._lock = asyncio.Lock()
        self._failed_at = 0.0
        self._failure = ""

    def _start_sync(self) -> LocalLLMServer:
        model = ensure_gguf(self.data_dir, self.packaged)
        server = LocalLLMServer(
            model,
            port=self.port,
            threads=self.threads,
            ctx=self.ctx,
            log_path=self.data_dir / "llm-server.log",
        )
        return server.start()

    async def ready(self) -> OpenAICompatLLM:
        if self._llm is not None and self.server is not None and self.server.running():
            return self._llm
        async with self._lock:
            if self._llm is not None and self.server is not None and self.server.running():
                return self._llm
            if self._failure and time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S:
                raise LLMUnavailable(self._failure)
            try:
                self.server = await asyncio.to_thread(self._start_sync)
            except (ModelFilesError, LocalServerError, OSError, ImportError) as exc:
                self._failure = f"the local language model could not start: {exc}"
                self._failed_at = time.monotonic()
                raise LLMUnavailable(self._failure) from exc
            self._failure = ""
            self._llm = OpenAICompatLLM(self.client, base_url=self.server.base_url, timeout_s=self.timeout_s)
            return self._llm

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> Completion:
        llm = await self.ready()
        return await llm.complete(messages, max_tokens=max_tokens, temperature=temperature, seed=seed)

    async def stream(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> AsyncIterator[str]:
        llm = await self.ready()
        pieces = llm.stream(messages, max_tokens=max_tokens, temperature=temperature)
        try:
            async for piece in pieces:
                yield piece
        finally:
            await pieces.aclose()  # type: ignore[attr-defined]

    async def health(self) -> bool:
        return self._llm is not None and await self._llm.health()

    async def aclose(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.close)


def build_llm(settings: Settings, client: httpx.AsyncClient) -> BaseLLM:
    if settings.llm_base_url:
        return OpenAICompatLLM(
            client,
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout_s=settings.llm_timeout_s,
        )
    return LocalLLM(
        client,
        data_dir=Path(settings.ossqa_data_dir),
        model=PACKAGED_MODELS[settings.local_llm],
        threads=settings.llm_threads,
        ctx=settings.llm_ctx,
        port=settings.llm_port,
        timeout_s=settings.llm_timeout_s,
    )
