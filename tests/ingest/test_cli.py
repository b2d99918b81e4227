"""`ossqa ingest` through `main(argv)`: summaries, clear errors, and hand-off to a running
`ossqa serve` on the same data dir (a real server subprocess) without any lock error."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fake_github import TOKEN, FakeGitHub
from ingest_helpers import section_doc, write_files

from ingest.github import fetch_github, write_export
from service.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_files(
        tmp_path / "docs",
        {
            "guide/install.md": section_doc("install", sections=3, words=80),
            "guide/deploy.md": section_doc("deploy", sections=3, words=80),
            "broken.md": b"\x00\x01binary pretending to be markdown",
        },
    )


def test_ingest_prints_a_summary_and_reports_bad_files(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path / "data"))
    assert main(["ingest", "demo", str(docs)]) == 0
    out = capsys.readouterr().out
    assert "files: 3 (0 unchanged, 2 new/changed, 0 deleted)" in out
    assert re.search(r"chunks: [1-9]\d* added, 0 deleted", out)
    assert re.search(r"time: [\d.]+ s \([\d.]+ chunks/s\)", out)
    assert "skipped broken.md: binary content in a text file" in out

    (docs / "guide/deploy.md").unlink()
    assert main(["ingest", "demo", str(docs)]) == 0
    out = capsys.readouterr().out
    assert "files: 2 (1 unchanged, 0 new/changed, 1 deleted)" in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["ingest", "demo"], 2, "give a PATH and/or --discussions FILE"),
        (["ingest", "demo", "/no/such/folder"], 2, "does not exist"),
        (["ingest", "demo", "--discussions", "/no/such/export.json"], 2, "does not exist"),
    ],
)
def test_ingest_argument_errors(
    argv: list[str],
    code: int,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path / "data"))
    assert main(argv) == code
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["ingest", "my docs", "."], ["train-reranker", "my docs"], ["delete", "my docs"]]
)
def test_a_project_name_the_api_would_refuse_is_refused_up_front(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ingested as "my docs", a project could never be searched: /search accepts no space.
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "'my docs': use letters, digits" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_delete_asks_for_yes_then_removes_only_that_project(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path / "data"))
    assert main(["ingest", "demo", str(docs)]) == 0
    assert main(["ingest", "other", str(docs)]) == 0
    capsys.readouterr()

    assert main(["delete", "demo"]) == 2
    assert "run again with --yes" in capsys.readouterr().err
    assert main(["delete", "demo", "--yes"]) == 0
    out = capsys.readouterr().out
    kept = r"\(conversations, feedback and the question log kept\)"
    assert re.search(r"deleted project 'demo': [1-9]\d* chunks " + kept, out)
    assert main(["delete", "demo", "--yes"]) == 1
    assert "error: unknown project 'demo'" in capsys.readouterr().err
    # The other project is untouched: re-ingesting it finds every file unchanged.
    assert main(["ingest", "other", str(docs)]) == 0
    assert "files: 3 (2 unchanged, 0 new/changed, 0 deleted)" in capsys.readouterr().out


def test_ingest_of_an_invalid_export_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path / "data"))
    export = tmp_path / "export.json"
    export.write_text('[{"number": 1, "title": ', encoding="utf-8")
    assert main(["ingest", "demo", "--discussions", str(export)]) == 1
    captured = capsys.readouterr()
    assert "error: export export.json is not valid JSON" in captured.err
    assert "Traceback" not in captured.err + captured.out


# -- hand-off to a running server ---------------------------------------------------------------
@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: list[str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def running_server(tmp_path: Path) -> Iterator[Server]:
    """`ossqa serve` as a real process on a free port, with its own data dir."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSSQA_", "QDRANT_", "LLM_"))}
    env.update(
        OSSQA_DATA_DIR=str(tmp_path / "data"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        # No /ask in this test: point the answer pipeline at a closed port instead of starting
        # the local model, and skip the reranker.
        LLM_BASE_URL="http://127.0.0.1:9/v1",
        RERANKER="none",
    )
    cmd = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log: list[str] = []
    ready = threading.Event()

    def follow() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            log.append(line)
            if "Uvicorn running on" in line or "Application startup complete" in line:
                ready.set()
        ready.set()  # the process ended

    threading.Thread(target=follow, daemon=True).start()
    # Uvicorn logs its readiness; the timeout only guards against a server that hangs.
    ready.wait(timeout=300)
    url = f"http://127.0.0.1:{port}"
    assert proc.poll() is None, "server exited:\n" + "".join(log)
    assert httpx.get(f"{url}/healthz", timeout=30).json()["ok"] is True
    yield Server(url, proc, log)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_ingest_while_serving_is_handed_to_the_server(
    running_server: Server,
    docs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OSSQA_DATA_DIR", str(tmp_path / "data"))
    assert main(["ingest", "demo", str(docs)]) == 0
    captured = capsys.readouterr()
    assert f"handing the ingest to the running server at {running_server.url}" in captured.out
    assert "files: 3 (0 unchanged, 2 new/changed, 0 deleted)" in captured.out
    assert "skipped broken.md" in captured.out
    text = (captured.out + captured.err + "".join(running_server.log)).lower()
    assert "lock" not in text and "wouldblock" not in text

    projects = httpx.get(f"{running_server.url}/projects", timeout=30).json()["projects"]
    assert [p["name"] for p in projects] == ["demo"] and projects[0]["chunks"] > 0
    hits = httpx.post(
        f"{running_server.url}/search", json={"project": "demo", "query": "deploy part 1"}, timeout=60
    ).json()["hits"]
    assert {h["path"] for h in hits} >= {"guide/deploy.md"}

    # An export goes the same way, and the threads become searchable by source type.
    export = tmp_path / "threads.json"
    with httpx.Client(transport=FakeGitHub().transport()) as client:
        write_export(fetch_github("acme", "widgets", TOKEN, client=client), export)
    assert main(["ingest", "demo", "--discussions", str(export)]) == 0
    assert "files: 6 (0 unchanged, 6 new/changed, 0 deleted)" in capsys.readouterr().out
    hits = httpx.post(
        f"{running_server.url}/search",
        json={"project": "demo", "query": "read settings from a .env file", "source_types": ["discussion"]},
        timeout=60,
    ).json()["hits"]
    assert hits and hits[0]["path"] == "discussions/101"
    assert hits[0]["url"] == "https://github.com/acme/widgets/discussions/101"

    # A job the server cannot do fails with the reason, not a traceback.
    export.write_text("[{", encoding="utf-8")
    assert main(["ingest", "demo", "--discussions", str(export)]) == 1
    out = capsys.readouterr().out
    assert "is not valid JSON" in out and "Traceback" not in out

    # A project's refusal threshold is set through the server as well, and applies at once.
    assert main(["refusal-threshold", "demo", "0.6"]) == 0
    out = capsys.readouterr().out
    assert "handing the change to the running server" in out and "set to 0.6; it was not set" in out
    refusal = httpx.get(f"{running_server.url}/projects/demo", timeout=30).json()["refusal"]
    assert refusal["threshold"] == 0.6 and "set for this project" in refusal["threshold_from"]

    # Deleting goes through the server too: it owns the store.
    assert main(["delete", "demo", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"handing the delete to the running server at {running_server.url}" in out
    assert "deleted project 'demo'" in out
    assert httpx.get(f"{running_server.url}/projects", timeout=30).json()["projects"] == []
    assert main(["delete", "demo", "--yes"]) == 1
    assert "error: unknown project 'demo'" in capsys.readouterr().err


def test_ingest_with_a_stale_server_file_runs_directly(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # A server that died without cleaning up: its pid is gone and its port is closed.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (data / "server.json").write_text(
        json.dumps({"url": f"http://127.0.0.1:{_free_port()}", "pid": dead.pid, "token": "x"}),
        encoding="utf-8",
    )
    monkeypatch.setenv("OSSQA_DATA_DIR", str(data))
    assert main(["ingest", "demo", str(docs)]) == 0
    out = capsys.readouterr().out
    assert "handing" not in out and "files: 3" in out
