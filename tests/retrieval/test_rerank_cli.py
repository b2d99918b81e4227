"""`ossqa train-reranker`: options reach the training config; an empty project is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.embedders import BaseEmbedder
from service.cli import build_parser, main


def test_train_reranker_options_parse() -> None:
    args = build_parser().parse_args(["train-reranker", "demo", "--generate", "0", "--train-minutes", "2"])
    assert (args.project, args.generate, args.train_minutes, args.target_precision) == ("demo", 0, 2.0, 0.9)


def test_train_reranker_refuses_a_project_with_no_chunks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    embedder: BaseEmbedder,
) -> None:
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EMBEDDING_MODEL", "use-multilingual")  # the session's loaded embedder
    assert main(["train-reranker", "ghost", "--generate", "0"]) == 1
    assert "ingest it first" in capsys.readouterr().err
    assert not (tmp_path / "models" / "ghost" / "reranker").exists()
