from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings, env_example

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"\n{name.upper()}=" not in text]
    assert missing == [], f"add to .env.example (python -m service.settings > .env.example): {missing}"
    assert text == env_example()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RETRIEVAL_TOP_K", "7")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.ossqa_data_dir == tmp_path and s.retrieval_top_k == 7


def test_bad_threshold_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFUSAL_THRESHOLD", "1.5")
    with pytest.raises(ValidationError, match="REFUSAL_THRESHOLD"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_cli_names_a_bad_setting_without_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from service.cli import main

    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOCAL_LLM", "qwen-7b")
    monkeypatch.setenv("LLM_THREADS", "0")
    with pytest.raises(SystemExit) as stop:
        main(["llm"])
    message = str(stop.value.code)
    assert message.startswith("error: invalid setting")
    assert "LOCAL_LLM: Input should be 'qwen2.5-coder-0.5b' or 'qwen2.5-coder-1.5b'" in message
    assert "LLM_THREADS: Input should be greater than or equal to 1" in message
