"""The one interface between the answer pipeline and a language model.

Every backend (local llama.cpp, vLLM, a hosted API) speaks OpenAI chat completions, so
`OpenAICompatLLM` is the only implementation; tests replace the wire (httpx.MockTransport),
not this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""


class BaseLLM(ABC):
    model: str

    @abstractmethod
    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> Completion:
        """The whole answer at once; `seed` makes a sampled (temperature > 0) answer repeatable.
        Raises LLMUnavailable / LLMTimeout / LLMBadResponse."""

    @abstractmethod
    def stream(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> AsyncIterator[str]:
        """Text pieces as the model produces them. Closing the iterator (e.g. on client
        disconnect) closes the HTTP response, which makes the server stop generating."""

    async def health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None
