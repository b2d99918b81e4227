from pathlib import Path

import pytest

from ingest.manifest import ManifestMismatch, check_manifest, read_manifest, record_ingest
from service.container import build_components
from service.settings import Settings

INDEX = {"embedding_model": "use-multilingual-v3", "dim": 512, "collection": "c"}


def test_manifest_records_the_index_and_refuses_another_model(tmp_path: Path) -> None:
    check_manifest(tmp_path, INDEX)
    assert read_manifest(tmp_path)["index"] == INDEX
    check_manifest(tmp_path, INDEX)  # same model: fine
    with pytest.raises(ManifestMismatch, match="EMBEDDING_MODEL=use-multilingual-v3"):
        check_manifest(tmp_path, {**INDEX, "embedding_model": "all-minilm-l6-v2", "dim": 384})


def test_record_ingest_keeps_other_projects(tmp_path: Path) -> None:
    check_manifest(tmp_path, INDEX)
    record_ingest(tmp_path, "a", {"files": 1}, {"x.md": "h1"})
    record_ingest(tmp_path, "b", {"files": 2}, {"y.md": "h2"})
    m = read_manifest(tmp_path)
    assert m["projects"]["a"]["documents"] == {"x.md": "h1"} and m["projects"]["b"]["last_report"] == {
        "files": 2
    }
    assert m["index"] == INDEX


def test_ingest_writes_doc_hashes_to_the_manifest(settings: Settings, tiny_corpus: Path, embedder) -> None:  # noqa: ANN001
    components = build_components(settings, embedder=embedder)
    try:
        report = components.ingest("demo", path=tiny_corpus)
    finally:
        components.close()
    m = read_manifest(settings.ossqa_data_dir)
    assert m["index"]["embedding_model"] == embedder.name and m["index"]["dim"] == embedder.dim
    assert set(m["projects"]["demo"]["documents"]) == {
        "docs/cors.md",
        "docs/background.md",
        "docs/settings.md",
        "docs/zh/testing.md",
    }
    assert m["projects"]["demo"]["last_report"]["chunks_added"] == report.chunks_added


def test_reports_of_a_folder_and_an_export_add_up() -> None:
    from ingest.types import IngestReport

    total = IngestReport(files=2, chunks_added=5, seconds=1.0, errors=[("a.md", "binary")])
    total.add(IngestReport(files=3, chunks_deleted=1, docs_deleted=1, seconds=0.5, errors=[("x", "bad")]))
    assert (total.files, total.chunks_added, total.chunks_deleted, total.docs_deleted) == (5, 5, 1, 1)
    assert total.seconds == 1.5 and total.errors == [("a.md", "binary"), ("x", "bad")]
