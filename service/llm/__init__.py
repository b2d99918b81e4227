"""Language-model backends behind one interface (`BaseLLM`).

`OpenAICompatLLM` talks to any OpenAI-compatible server; `LocalLLMServer` starts the packaged
model with llama.cpp when no LLM_BASE_URL is configured.
"""

from service.llm.base import BaseLLM, Completion, Message
from service.llm.local_server import LocalLLMServer, LocalServerError
from service.llm.model_files import PACKAGED_MODELS, ModelFilesError, PackagedModel, ensure_gguf
from service.llm.openai_compat import OpenAICompatLLM

__all__ = [
    "BaseLLM",
    "Completion",
    "LocalLLMServer",
    "LocalServerError",
    "Message",
    "ModelFilesError",
    "OpenAICompatLLM",
    "PACKAGED_MODELS",
    "PackagedModel",
    "ensure_gguf",
]
