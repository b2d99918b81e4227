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
