"""Shared fixtures: real packaged embedder (loaded once), real embedded Qdrant in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from retrieval.embedders import BaseEmbedder, create_embedder  # noqa: E402
from service.settings import Settings  # noqa: E402


def local_model(tmp: Path) -> Path:
    """The packaged model the real-LLM tests run: LOCAL_LLM's (default the 0.5B), so the same
    tests check the pipeline with the 1.5B (`LOCAL_LLM=qwen2.5-coder-1.5b pytest tests/integration`)."""
    from service.llm import PACKAGED_MODELS, ensure_gguf

    return ensure_gguf(tmp, PACKAGED_MODELS[Settings(_env_file=None).local_llm])  # type: ignore[call-arg]


TINY_DOCS: dict[str, str] = {
    "docs/cors.md": """# CORS

Cross-Origin Resource Sharing lets a frontend on another origin call your API.

## Use CORSMiddleware

Add `CORSMiddleware` to the application and list the allowed origins.

```python
app.add_middleware(CORSMiddleware, allow_origins=["https://example.com"])
```
""",
    "docs/background.md": """# Background Tasks

Run work after returning a response with `BackgroundTasks`.

## Add a task

Call `background_tasks.add_task(write_log, message)` inside the path operation.
""",
    "docs/settings.md": """# Settings

Read configuration from environment variables with a settings class.

## Model config

Set `model_config` to choose the env file and prefix.
""",
    "docs/zh/testing.md": """# 测试

使用 TestClient 测试你的应用，无需启动服务器。

## 使用 TestClient

导入 TestClient，创建客户端，然后发送请求并检查响应状态码。
""",
}


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's real configuration."""
    for key in list(os.environ):
        if key.upper() in {name.upper() for name in Settings.model_fields}:
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def embedder() -> BaseEmbedder:
    return create_embedder("use-multilingual")


@pytest.fixture(scope="session")
def mpnet_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the real all-mpnet-base-v2 folder, assembled once per session."""
    from retrieval.embedders.mpnet import ensure_mpnet

    data_dir = tmp_path_factory.mktemp("mpnet-data")
    ensure_mpnet(data_dir)
    return data_dir


@pytest.fixture(scope="session")
def mpnet_embedder(mpnet_data_dir: Path) -> BaseEmbedder:
    from retrieval.embedders.mpnet import MPNetEmbedder, ensure_mpnet

    return MPNetEmbedder(ensure_mpnet(mpnet_data_dir))


def write_corpus(root: Path, docs: dict[str, str] = TINY_DOCS) -> Path:
    for rel, text in docs.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, ossqa_data_dir=tmp_path / "data", rate_limit_per_min=0)  # type: ignore[call-arg]


def fake_llm_settings(data_dir: Path, llm_url: str, **overrides: object) -> Settings:
    """Settings for `/ask` against a wire-format model server (tests/service/_wire.py): no rate
    limit, and the model is always called (no refusal, no answer cache), so every prompt can be
    inspected."""
    values: dict[str, object] = {
        "ossqa_data_dir": data_dir,
        "rate_limit_per_min": 0,
        "llm_base_url": f"{llm_url}/v1",
        "refusal_threshold": 0.0,
        "answer_cache_entries": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]
