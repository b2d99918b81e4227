"""POST /feedback stores 👍/👎 in SQLite under OSSQA_DATA_DIR; the export needs the admin key."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retrieval.embedders import BaseEmbedder
from service.container import build_components
from service.feedback import FeedbackRecord, FeedbackStore
from service.main import create_app
from service.settings import Settings

ADMIN = {"Authorization": "Bearer admin-secret"}


@contextmanager
def running(data_dir: Path, embedder: BaseEmbedder, admin_key: str = "admin-secret") -> Iterator[TestClient]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, ossqa_data_dir=data_dir, rate_limit_per_min=0, ossqa_admin_key=admin_key
    )
    components = build_components(settings, embedder=embedder)
    try:
        with TestClient(create_app(settings, components=components)) as client:
            yield client
    finally:
        components.close()  # the embedded store allows one process (and one opener) at a time


def vote(project: str, rating: str, **extra: object) -> dict[str, object]:
    return {"project": project, "conversation_id": "conv-1", "rating": rating, **extra}


def test_feedback_is_stored_and_exported_and_survives_restart(tmp_path: Path, embedder: BaseEmbedder) -> None:
    with running(tmp_path, embedder) as client:
        r = client.post(
            "/feedback", json=vote("fastapi", "up", question="cors?", answer="Use it [1].", turn=0)
        )
        assert r.status_code == 201 and r.json()["id"] >= 1
        assert (
            client.post("/feedback", json=vote("fastapi", "down", turn=1, comment="wrong")).status_code == 201
        )
        assert client.post("/feedback", json=vote("pydantic", "up")).status_code == 201

    assert (tmp_path / "feedback.sqlite3").exists()
    with running(tmp_path, embedder) as client:  # a new process on the same data dir
        rows = client.get("/admin/feedback", params={"project": "fastapi"}, headers=ADMIN).json()
        assert rows["count"] == 2
        assert [(r["rating"], r["turn"]) for r in rows["feedback"]] == [("up", 0), ("down", 1)]
        assert rows["feedback"][0]["question"] == "cors?"
        assert rows["feedback"][1]["comment"] == "wrong"
        assert client.get("/admin/feedback", headers=ADMIN).json()["count"] == 3

        r = client.get("/admin/feedback", params={"format": "csv"}, headers=ADMIN)
        assert r.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["project"] for row in table] == ["fastapi", "fastapi", "pydantic"]


def test_csv_export_defuses_spreadsheet_formulas(tmp_path: Path, embedder: BaseEmbedder) -> None:
    with running(tmp_path, embedder) as client:
        client.post("/feedback", json=vote("fastapi", "down", comment='=HYPERLINK("http://x","y")'))
        r = client.get("/admin/feedback", params={"format": "csv"}, headers=ADMIN)
        assert list(csv.DictReader(io.StringIO(r.text)))[0]["comment"] == '\'=HYPERLINK("http://x","y")'
        assert client.get("/admin/feedback", headers=ADMIN).json()["feedback"][0]["comment"].startswith("=")


@pytest.mark.parametrize(
    "body,fragment",
    [
        (vote("fastapi", "meh"), "rating"),
        (vote("../etc", "up"), "project"),
        ({"project": "fastapi", "rating": "up"}, "conversation_id"),
        (vote("fastapi", "up", answer="x" * 20_001), "answer"),
    ],
)
def test_bad_feedback_is_422_with_a_clear_message(
    tmp_path: Path, embedder: BaseEmbedder, body: dict[str, object], fragment: str
) -> None:
    with running(tmp_path, embedder) as client:
        r = client.post("/feedback", json=body)
    assert r.status_code == 422
    assert r.json()["ok"] is False and fragment in r.json()["error"]


def test_export_needs_the_admin_key(tmp_path: Path, embedder: BaseEmbedder) -> None:
    with running(tmp_path, embedder) as client:
        assert client.get("/admin/feedback").status_code == 401
        assert client.get("/admin/feedback", headers={"Authorization": "Bearer nope"}).status_code == 401
    with running(tmp_path, embedder, admin_key="") as client:
        r = client.get("/admin/feedback", headers=ADMIN)
        assert r.status_code == 403 and "OSSQA_ADMIN_KEY" in r.json()["error"]


def test_store_summary_counts_by_rating(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    for rating in ("up", "up", "down"):
        store.add(FeedbackRecord(project="p", conversation_id="c", rating=rating))  # type: ignore[arg-type]
    store.add(FeedbackRecord(project="q", conversation_id="c", rating="down"))
    assert store.summary("p") == {"up": 2, "down": 1}
    assert store.summary("none") == {"up": 0, "down": 0}
