"""OpenAI-compatible chat client for every backend (llama.cpp's server, vLLM, hosted APIs).

    client = httpx.AsyncClient()
    llm = OpenAICompatLLM(client, base_url="http://127.0.0.1:8080/v1", model="local", timeout_s=60)
    text = (await llm.complete([Message("user", "hi")])).text

httpx errors are translated here, and only here, into the service's error tree
(LLMUnavailable / LLMTimeout / LLMBadResponse), keeping the cause.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from service.errors import LLMBadResponse, LLMTimeout, LLMUnavailable
from service.llm.base import BaseLLM, Completion, Message


class OpenAICompatLLM(BaseLLM):
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str = "local",
        api_key: str = "",
        timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        # Connecting fails fast (server down); reading may take as long as a generation.
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self.timeout_s = timeout_s

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _body(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        stream: bool,
        seed: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if seed is not None:  # llama.cpp, vLLM and OpenAI all read it
            body["seed"] = seed
        return body

    def _map(self, exc: httpx.HTTPError) -> Exception:
        # Most specific first: a timeout is also a transport error.
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return LLMTimeout(f"the language model did not answer within {self.timeout_s:.0f} s")
        if isinstance(exc, httpx.TransportError):
            return LLMUnavailable(f"the language model server at {self.base_url} cannot be reached")
        return LLMBadResponse(f"the language model server failed: {exc}")

    @staticmethod
    def _check_status(resp: httpx.Response, body: bytes) -> None:
        if resp.status_code in (502, 503):
            raise LLMUnavailable(f"the language model server is unavailable (HTTP {resp.status_code})")
        if resp.status_code >= 400:
            snippet = body[:200].decode("utf-8", "replace")
            raise LLMBadResponse(f"the language model server answered HTTP {resp.status_code}: {snippet}")

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> Completion:
        try:
            resp = await self.client.post(
                f"{self.base_url}/chat/completions",
                json=self._body(messages, max_tokens, temperature, stream=False, seed=seed),
                headers=self._headers(),
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise self._map(exc) from exc
        self._check_status(resp, resp.content)
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMBadResponse("the language model server returned an unreadable completion") from exc
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0) or 0),
            completion_tokens=int(usage.get("completion_tokens", 0) or 0),
            finish_reason=str(choice.get("finish_reason") or ""),
        )

    async def stream(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> AsyncIterator[str]:
        request = self.client.build_request(
            "POST",
            f"{self.base_url}/chat/completions",
            json=self._body(messages, max_tokens, temperature, stream=True),
            headers=self._headers(),
            timeout=self.timeout,
        )
        # httpx's read timeout is per chunk: a model that keeps trickling tokens would never hit
        # it, so the whole generation also gets a deadline.
        deadline = time.monotonic() + self.timeout_s
        try:
            resp = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._map(exc) from exc
        try:
            if resp.status_code >= 400:
                self._check_status(resp, await resp.aread())
            events = 0
            async for line in resp.aiter_lines():
                if time.monotonic() > deadline:
                    raise LLMTimeout(f"the language model did not finish within {self.timeout_s:.0f} s")
                piece = _parse_sse_line(line)
                if piece is None:
                    continue
                events += 1
                if piece == _DONE:
                    break
                if piece:
                    yield piece
            if not events:  # an HTML page or a plain JSON body: not a completion stream
                raise LLMBadResponse("the language model server answered without a completion stream")
        except httpx.HTTPError as exc:
            raise self._map(exc) from exc
        finally:
            await resp.aclose()  # on cancel too: the server sees the disconnect and stops

    async def health(self) -> bool:
        try:
            resp = await self.client.get(f"{self.base_url}/models", headers=self._headers(), timeout=5.0)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200


_DONE = "\x00done"


def _parse_sse_line(line: str) -> str | None:
    """One `data: {...}` line of an OpenAI stream -> its text delta ("" for an event without
    text, such as the role; None for a line that is no event: a keep-alive or a blank)."""
    line = line.strip()
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return _DONE
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise LLMBadResponse("the language model server sent an unreadable stream event") from exc
    if not isinstance(data, dict):
        raise LLMBadResponse("the language model server sent an unexpected stream event")
    if "error" in data:
        raise LLMBadResponse(f"the language model server reported an error: {data['error']}")
    try:
        delta = data["choices"][0].get("delta") or {}
    except (KeyError, IndexError, AttributeError) as exc:
        raise LLMBadResponse("the language model server sent a stream event without choices") from exc
    text = delta.get("content")
    return text if isinstance(text, str) else ""
