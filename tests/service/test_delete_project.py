"""DELETE /admin/projects/{project}: a maintainer removes a project (a typo'd name, a project
they stopped serving). Its chunks, manifest entry and trained reranker go; other projects,
shared models and feedback stay. Real embedded Qdrant in a temp dir, real packaged embedder."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.manifest import read_manifest
from retrieval.rerank.cross_encoder import model_dir, work_dir
from service.container import Components, build_components
from service.main import create_app
from service.settings import Settings

ADMIN = {"Authorization": "Bearer admin-secret"}


@pytest.fixture
def served(settings: Settings, tiny_corpus: Path, embedder) -> Iterator[tuple[TestClient, Components]]:  # noqa: ANN001
    settings = settings.model_copy(update={"ossqa_admin_key": "admin-secret"})
    components = build_components(settings, embedder=embedder)
    components.ingest("demo", path=tiny_corpus)
    components.ingest("other", path=tiny_corpus)
    data = Path(settings.ossqa_data_dir)
    # What `ossqa train-reranker` leaves (never loaded here: nothing searches "demo" before it
    # is deleted), and a shared model file beside it.
    for folder in (model_dir(data, "demo"), work_dir(data, "demo"), work_dir(data, "other")):
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({"base": "test"}), encoding="utf-8")
    (data / "models" / "shared-model.gguf").write_bytes(b"weights")
    with TestClient(create_app(settings, components=components)) as client:
        yield client, components
    components.close()


def _search(client: TestClient, project: str) -> int:
    return client.post("/search", json={"project": project, "query": "How do I enable CORS?"}).status_code


def test_delete_removes_the_project_and_nothing_else(
    served: tuple[TestClient, Components], tiny_corpus: Path
) -> None:
    client, components = served
    data = Path(components.settings.ossqa_data_dir)
    chunks = components.store.count("demo")
    assert chunks > 0

    r = client.delete("/admin/projects/demo", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"project": "demo", "chunks_deleted": chunks, "reranker_deleted": True}

    assert [p["name"] for p in client.get("/projects").json()["projects"]] == ["other"]
    assert _search(client, "demo") == 404 and _search(client, "other") == 200
    assert client.get("/projects/demo").status_code == 404
    assert set(read_manifest(data)["projects"]) == {"other"}
    assert not (data / "models" / "demo").exists()
    assert work_dir(data, "other").is_dir() and (data / "models" / "shared-model.gguf").exists()

    # Deleting again is a clear 404, and the project can be ingested afresh: no stale chunks.
    r = client.delete("/admin/projects/demo", headers=ADMIN)
    assert r.status_code == 404 and "unknown project 'demo'" in r.json()["error"]
    components.ingest("demo", path=tiny_corpus)
    assert components.store.count("demo") == chunks


def test_delete_needs_the_admin_key_and_a_valid_name(served: tuple[TestClient, Components]) -> None:
    client, components = served
    assert client.delete("/admin/projects/demo").status_code == 401
    assert client.delete("/admin/projects/demo", headers={"Authorization": "Bearer nope"}).status_code == 401
    for name in ("..", "a b", "x" * 101):
        r = client.delete(f"/admin/projects/{name}", headers=ADMIN)
        assert r.status_code in (404, 422) and r.json()["error"], (name, r.text)
    assert components.store.count("demo") > 0


def test_delete_waits_for_queued_ingests_and_refuses_one_of_its_own(
    served: tuple[TestClient, Components], tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, components = served
    release = threading.Event()
    ingest = components.ingest

    def held_ingest(project: str, **kwargs: object):  # noqa: ANN202
        release.wait()
        return ingest(project, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(components, "ingest", held_ingest)
    job = client.post("/admin/ingest", json={"project": "demo", "path": str(tiny_corpus)}, headers=ADMIN)
    assert job.status_code == 202

    r = client.delete("/admin/projects/demo", headers=ADMIN)
    assert r.status_code == 409 and "queued or running" in r.json()["error"]
    assert components.store.count("demo") > 0

    # Another project's delete runs on the same worker, after the held ingest.
    release.set()
    assert client.delete("/admin/projects/other", headers=ADMIN).status_code == 200
    assert client.get(f"/admin/ingest/{job.json()['id']}", headers=ADMIN).json()["state"] == "done"
    assert client.delete("/admin/projects/demo", headers=ADMIN).status_code == 200
    assert client.get("/projects").json()["projects"] == []
