"""A maintainer sets one project's refusal threshold (PUT /admin/projects/P/refusal-threshold,
`ossqa refusal-threshold P VALUE`): it applies to the next question, wins over
REFUSAL_THRESHOLD, survives restarts and re-ingests, and goes with the project. Real embedded
Qdrant and packaged embedder; the model server is down (nothing listens on the discard port),
so a question that passes the gate is a 503 and a refused one a 200."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _wire import demo_app_with_model_down as running
from fastapi.testclient import TestClient

from ingest.manifest import read_manifest
from retrieval.embedders import BaseEmbedder
from service.cli import main
from service.container import Components

ADMIN = {"Authorization": "Bearer admin-secret"}
ON_TOPIC = "How do I enable CORS with CORSMiddleware?"
OFF_TOPIC = "How long should I knead sourdough bread before baking it?"


def put(client: TestClient, value: object, project: str = "demo") -> tuple[int, dict]:
    r = client.put(f"/admin/projects/{project}/refusal-threshold", json={"threshold": value}, headers=ADMIN)
    return r.status_code, r.json()


def refused(client: TestClient, question: str) -> bool:
    r = client.post("/ask", json={"project": "demo", "question": question})
    assert r.status_code in (200, 503), r.text
    return r.status_code == 200 and r.json()["refused"] is True


def test_a_project_threshold_decides_the_next_question(
    tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder
) -> None:
    with running(tmp_path, tiny_corpus, embedder) as client:
        refusal = client.get("/projects/demo").json()["refusal"]
        assert refusal["threshold"] == 0.2 and refusal["threshold_from"].startswith("default")
        assert not refused(client, ON_TOPIC) and refused(client, OFF_TOPIC)

        assert put(client, 0.999) == (200, {"project": "demo", "threshold": 0.999, "previous": None})
        assert refused(client, ON_TOPIC)  # nothing is that sure
        refusal = client.get("/projects/demo").json()["refusal"]
        assert refusal["threshold"] == 0.999 and "set for this project" in refusal["threshold_from"]

        assert put(client, 0.0)[1]["previous"] == 0.999
        assert not refused(client, OFF_TOPIC)  # everything passes the gate (and meets the dead model)

    with running(tmp_path, tiny_corpus, embedder) as client:  # kept across restarts
        assert client.get("/projects/demo").json()["refusal"]["threshold"] == 0.0
        assert put(client, None) == (200, {"project": "demo", "threshold": None, "previous": 0.0})
        assert refused(client, OFF_TOPIC)
        assert client.get("/projects/demo").json()["refusal"]["threshold"] == 0.2


def test_it_wins_over_refusal_threshold_and_goes_with_the_project(
    tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder
) -> None:
    with running(tmp_path, tiny_corpus, embedder, refusal_threshold=0.0) as client:
        assert not refused(client, OFF_TOPIC)  # the global override lets everything through
        put(client, 0.999)
        assert refused(client, ON_TOPIC)
        components: Components = client.app.state.components  # type: ignore[attr-defined]
        components.ingest("demo", path=tiny_corpus)  # an ingest replaces the project's entry
        assert read_manifest(tmp_path)["refusal_thresholds"] == {"demo": 0.999}
        assert refused(client, ON_TOPIC)
        assert client.delete("/admin/projects/demo", headers=ADMIN).status_code == 200
        assert read_manifest(tmp_path)["refusal_thresholds"] == {}


@pytest.mark.parametrize(
    ("value", "status", "fragment"),
    [(1.5, 422, "threshold"), (-0.1, 422, "threshold"), ("abc", 422, "threshold"), (0.5, 404, "unknown")],
)
def test_bad_requests_are_clear(
    tmp_path: Path, tiny_corpus: Path, embedder: BaseEmbedder, value: object, status: int, fragment: str
) -> None:
    with running(tmp_path, tiny_corpus, embedder) as client:
        project = "nosuch" if status == 404 else "demo"
        code, body = put(client, value, project)
        assert code == status and fragment in body["error"], body
        assert (
            client.put("/admin/projects/demo/refusal-threshold", json={"threshold": 0.5}).status_code == 401
        )
        assert client.put("/admin/projects/demo/refusal-threshold", json={}, headers=ADMIN).status_code == 422
        assert (
            "refusal_thresholds" not in read_manifest(tmp_path)
            or read_manifest(tmp_path)["refusal_thresholds"] == {}
        )


def test_cli_sets_it_directly_when_no_server_runs(
    tmp_path: Path,
    tiny_corpus: Path,
    embedder: BaseEmbedder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with running(tmp_path, tiny_corpus, embedder):
        pass  # ingested, then stopped
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path))
    assert main(["refusal-threshold", "demo", "0.35"]) == 0
    assert "set to 0.35; it was not set" in capsys.readouterr().out
    assert json.loads((tmp_path / "manifest.json").read_text())["refusal_thresholds"] == {"demo": 0.35}
    assert main(["refusal-threshold", "demo", "--clear"]) == 0
    assert "cleared" in capsys.readouterr().out
    assert main(["refusal-threshold", "other", "0.3"]) == 1
    assert "unknown project 'other'" in capsys.readouterr().err
    assert main(["refusal-threshold", "demo"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["refusal-threshold", "demo", "2"])
    assert exc.value.code == 2 and "between 0 and 1" in capsys.readouterr().err
