"""Incremental ingest with the real packaged embedder and the real embedded Qdrant on disk:
idempotent re-runs, exact replacement and deletion, export scope, and convergence after SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fake_github import FakeGitHub
from ingest_helpers import CountingEmbedder, paths_in, section_doc, store_state, write_files

from ingest.github import fetch_github, write_export
from ingest.pipeline import Ingester
from ingest.run import run_ingest
from ingest.sources import iter_folder
from retrieval.embedders import BaseEmbedder
from retrieval.store.edge import EdgeStore
from service.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def corpus(root: Path, names: list[str], *, version: int = 0) -> Path:
    return write_files(
        root, {f"docs/{n}.md": section_doc(n, sections=3, words=90, seed=version) for n in names}
    )


def test_a_page_without_text_is_reported_as_such_not_as_unchanged(
    tmp_path: Path, edge_store: EdgeStore, counting_embedder: CountingEmbedder
) -> None:
    root = corpus(tmp_path / "c", ["alpha"])
    (root / "docs" / "stub.md").write_text("# Stub\n", encoding="utf-8")
    ingester = Ingester(store=edge_store, embedder=counting_embedder)
    first = run_ingest(ingester, "demo", path=root)
    assert (first.files, first.unchanged, first.docs_updated, first.empty) == (2, 0, 1, 1)
    assert "1 without text" in first.summary()
    again = run_ingest(ingester, "demo", path=root)
    assert (again.unchanged, again.docs_updated, again.empty) == (1, 0, 1)


def test_reingest_of_an_unchanged_folder_embeds_and_writes_nothing(
    tmp_path: Path, edge_store: EdgeStore, counting_embedder: CountingEmbedder
) -> None:
    root = corpus(tmp_path / "c", ["alpha", "beta", "gamma"])
    ingester = Ingester(store=edge_store, embedder=counting_embedder)
    first = run_ingest(ingester, "demo", path=root)
    assert first.docs_updated == 3 and first.chunks_added == counting_embedder.texts > 0
    before = store_state(edge_store)
    files_before = {p: p.stat().st_size for p in (tmp_path / "store").rglob("*") if p.is_file()}

    counting_embedder.texts = 0
    again = run_ingest(ingester, "demo", path=root)
    assert counting_embedder.texts == 0
    assert (again.unchanged, again.docs_updated, again.chunks_added, again.chunks_deleted) == (3, 0, 0, 0)
    assert store_state(edge_store) == before
    # Nothing was appended to the engine's files either (no WAL entry for a no-op run).
    assert {p: p.stat().st_size for p in (tmp_path / "store").rglob("*") if p.is_file()} == files_before


def test_a_new_url_template_or_chunking_reindexes_every_document(
    tmp_path: Path, edge_store: EdgeStore, counting_embedder: CountingEmbedder
) -> None:
    """The text did not change, but how it is indexed did: stale URLs or chunks must not
    survive as "unchanged" documents."""
    from ingest.pipeline import ChunkParams

    root = corpus(tmp_path / "c", ["alpha", "beta"])
    run_ingest(Ingester(store=edge_store, embedder=counting_embedder), "demo", path=root)
    template = "https://example.org/{path}#{anchor}"
    moved = Ingester(store=edge_store, embedder=counting_embedder, url_template=template)
    report = run_ingest(moved, "demo", path=root)
    assert (report.unchanged, report.docs_updated) == (0, 2) and report.chunks_deleted == report.chunks_added
    urls = {p["url"] for p in edge_store.payloads("demo")}
    assert urls and all(u.startswith("https://example.org/docs/") for u in urls)
    assert run_ingest(moved, "demo", path=root).unchanged == 2  # and then it is stable again
    rechunked = Ingester(
        store=edge_store,
        embedder=counting_embedder,
        url_template=template,
        chunk_params=ChunkParams(min_tokens=0),
    )
    assert run_ingest(rechunked, "demo", path=root).docs_updated == 2
    assert sum(edge_store.doc_hashes("demo")["docs/alpha.md"].values()) > 0
    assert all(len(h) == 1 for h in edge_store.doc_hashes("demo").values())  # one version per file


def test_point_ids_are_deterministic_across_stores(tmp_path: Path, embedder: BaseEmbedder) -> None:
    root = corpus(tmp_path / "c", ["alpha", "beta"])
    states = []
    for name in ("one", "two"):
        store = EdgeStore(tmp_path / name, dim=embedder.dim)
        Ingester(store=store, embedder=embedder).ingest("demo", iter_folder(root))
        states.append(store_state(store))
        store.close()
    assert states[0] == states[1] and states[0]


def test_a_changed_file_replaces_exactly_its_chunks(
    tmp_path: Path, edge_store: EdgeStore, counting_embedder: CountingEmbedder
) -> None:
    root = corpus(tmp_path / "c", ["alpha", "beta", "gamma"])
    ingester = Ingester(store=edge_store, embedder=counting_embedder)
    run_ingest(ingester, "demo", path=root)
    before = store_state(edge_store)
    old_beta = {p["index"]: p["doc_hash"] for p in edge_store.payloads("demo") if p["path"] == "docs/beta.md"}

    (root / "docs/beta.md").write_text(section_doc("beta", sections=5, words=90, seed=1), encoding="utf-8")
    counting_embedder.texts = 0
    report = run_ingest(ingester, "demo", path=root)
    after = store_state(edge_store)

    beta = [p for p in edge_store.payloads("demo") if p["path"] == "docs/beta.md"]
    assert counting_embedder.texts == len(beta) == report.chunks_added  # only beta was embedded
    assert report.chunks_deleted == len(old_beta) and report.docs_updated == 1 and report.unchanged == 2
    assert len({p["doc_hash"] for p in beta}) == 1 and beta[0]["doc_hash"] not in old_beta.values()
    assert sorted(p["index"] for p in beta) == list(range(len(beta)))
    # Every other point is untouched: same ids, same payloads.
    others_before = {i: h for i, h in before.items() if i in after}
    assert len(others_before) == len(before) - len(old_beta)
    assert {i: after[i] for i in others_before} == others_before
    assert len(after) == len(others_before) + len(beta)


def test_a_deleted_file_loses_its_chunks_and_a_broken_one_keeps_them(
    tmp_path: Path, edge_store: EdgeStore, embedder: BaseEmbedder
) -> None:
    root = corpus(tmp_path / "c", ["alpha", "beta", "gamma"])
    ingester = Ingester(store=edge_store, embedder=embedder)
    run_ingest(ingester, "demo", path=root)
    counts = paths_in(edge_store, "demo")

    (root / "docs/alpha.md").unlink()
    (root / "docs/gamma.md").write_bytes(b"\xff\xfe broken \x00 bytes")  # now unreadable
    report = run_ingest(ingester, "demo", path=root)
    assert report.docs_deleted == 1 and report.chunks_deleted == counts["docs/alpha.md"]
    assert [path for path, _ in report.errors] == ["docs/gamma.md"]
    # The broken file is reported, and what was indexed from it before stays searchable.
    assert paths_in(edge_store, "demo") == {
        "docs/beta.md": counts["docs/beta.md"],
        "docs/gamma.md": counts["docs/gamma.md"],
    }
    assert "skipped docs/gamma.md" in report.summary()


def test_projects_are_isolated(tmp_path: Path, edge_store: EdgeStore, embedder: BaseEmbedder) -> None:
    root = corpus(tmp_path / "c", ["alpha", "beta"])
    ingester = Ingester(store=edge_store, embedder=embedder)
    run_ingest(ingester, "one", path=root)
    run_ingest(ingester, "two", path=root)
    (root / "docs/beta.md").unlink()
    run_ingest(ingester, "one", path=root)
    assert set(paths_in(edge_store, "one")) == {"docs/alpha.md"}
    assert set(paths_in(edge_store, "two")) == {"docs/alpha.md", "docs/beta.md"}


def test_discussions_export_and_prune_scope(
    tmp_path: Path, edge_store: EdgeStore, counting_embedder: CountingEmbedder
) -> None:
    import httpx

    root = corpus(tmp_path / "c", ["alpha", "beta"])
    export = tmp_path / "threads.jsonl"
    with httpx.Client(transport=FakeGitHub().transport()) as client:
        from fake_github import TOKEN

        records = fetch_github("acme", "widgets", TOKEN, client=client)
    write_export(records, export)
    ingester = Ingester(store=edge_store, embedder=counting_embedder)
    report = run_ingest(ingester, "demo", path=root, discussions=export)
    assert report.errors == []
    paths = paths_in(edge_store, "demo")
    assert {p for p in paths if not p.startswith("docs/")} == {
        "discussions/101",
        "discussions/102",
        "discussions/95",
        "issues/210",
        "issues/205",
        "issues/190",
    }
    payload = next(p for p in edge_store.payloads("demo") if p["path"] == "discussions/101")
    assert payload["source_type"] == "discussion"
    assert payload["url"] == "https://github.com/acme/widgets/discussions/101"
    assert payload["breadcrumb"].startswith("How do I read settings from a .env file?")

    # A folder ingest prunes documents only: the threads survive a deleted doc.
    (root / "docs/beta.md").unlink()
    counting_embedder.texts = 0
    run_ingest(ingester, "demo", path=root)
    assert counting_embedder.texts == 0
    assert set(paths_in(edge_store, "demo")) == set(paths) - {"docs/beta.md"}

    # An export ingest prunes threads only: a vanished thread goes, the docs stay.
    write_export([r for r in records if r["number"] != 102], export)
    report = run_ingest(ingester, "demo", discussions=export)
    assert report.docs_deleted == 1 and counting_embedder.texts == 0
    assert set(paths_in(edge_store, "demo")) == set(paths) - {"docs/beta.md", "discussions/102"}

    # A broken record keeps its thread's old version instead of deleting it.
    broken = [dict(r, title=None) if r["number"] == 210 else r for r in records if r["number"] != 102]
    write_export(broken, export)
    report = run_ingest(ingester, "demo", discussions=export)
    assert [p for p, _ in report.errors] == ["issues/210"] and report.docs_deleted == 0
    assert "issues/210" in paths_in(edge_store, "demo")


# -- SIGKILL and rerun -------------------------------------------------------------------------
def _ingest_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSSQA_", "QDRANT_"))}
    env.update(
        OSSQA_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1"
    )
    # Redraw the progress bar on every file, so the test acts on exact counts.
    env.update(TQDM_MININTERVAL="0", TQDM_MINITERS="1")
    return env


def _kill_when_half_done(cmd: list[str], env: dict[str, str]) -> tuple[int, int, int]:
    """Run the ingest and SIGKILL it once its progress bar shows half of the files started.

    Returns (return code, files done when killed, total files)."""
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: dict[str, int] = {}
    reached = threading.Event()

    def watch() -> None:
        assert proc.stderr is not None
        buffer = b""
        while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
            buffer = (buffer + chunk)[-4096:]
            for done, total in re.findall(rb"(\d+)/(\d+) \[", buffer):
                if int(total) and int(done) * 2 >= int(total) and not reached.is_set():
                    seen.update(done=int(done), total=int(total))
                    proc.send_signal(signal.SIGKILL)
                    reached.set()
        reached.set()  # stream closed: the process ended on its own

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    # Bounded only as a safety net for a hung child; the kill itself is driven by its output.
    if not reached.wait(timeout=600):
        proc.kill()
    code = proc.wait()
    thread.join(timeout=10)
    return code, seen.get("done", -1), seen.get("total", -1)


def test_sigkill_mid_ingest_then_rerun_matches_a_clean_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"topic-{i:02d}" for i in range(40)]
    root = corpus(tmp_path / "corpus", names)
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    store_dir = killed_dir / "qdrant" / "ossqa_chunks"
    # Fixed model and chunking (not the defaults) so the sizes below hold: one chunk per
    # section, 64 chunks per write batch; the subprocess inherits these.
    monkeypatch.setenv("EMBEDDING_MODEL", "use-multilingual")
    monkeypatch.setenv("CHUNK_MIN_TOKENS", "0")
    monkeypatch.setenv("CHUNK_TARGET_TOKENS", "250")
    monkeypatch.setenv("CHUNK_MAX_TOKENS", "400")

    # 1. The killed store starts from an older version of the corpus, so the interrupted run
    #    leaves old versions, new versions and half-written documents behind.
    monkeypatch.setenv("OSSQA_DATA_DIR", str(killed_dir))
    assert main(["ingest", "demo", str(root)]) == 0
    v1 = _snapshot(store_dir)
    for i, name in enumerate(names):
        if i % 5:  # four of every five pages change and grow to 7 chunks: ~220 in all
            text = section_doc(name, sections=6, words=90, seed=1)
            (root / f"docs/{name}.md").write_text(text, encoding="utf-8")
    for name in names[-4:]:
        (root / f"docs/{name}.md").unlink()
    write_files(root, {f"docs/new-{i}.md": section_doc(f"new-{i}", sections=3, words=90) for i in range(4)})

    cmd = [sys.executable, "-m", "service.cli", "ingest", "demo", str(root)]
    code, done, total = _kill_when_half_done(cmd, _ingest_env(killed_dir))
    assert code == -signal.SIGKILL, f"ingest was not killed mid-way (exit {code})"
    assert 0 < done < total
    # The kill hit a half-updated store: some pages already in their new version.
    partial = _snapshot(store_dir)
    assert set(partial) - set(v1) and set(partial) & set(v1)

    # 2. Rerun on the killed store; 3. a clean run on a fresh store.
    assert main(["ingest", "demo", str(root)]) == 0
    monkeypatch.setenv("OSSQA_DATA_DIR", str(clean_dir))
    assert main(["ingest", "demo", str(root)]) == 0
    capsys.readouterr()

    final, clean = _snapshot(store_dir), _snapshot(clean_dir / "qdrant" / "ossqa_chunks")
    assert final == clean  # same point ids with the same payloads: no duplicates, nothing stale
    assert final != partial
    store = EdgeStore(clean_dir / "qdrant" / "ossqa_chunks", dim=512)
    paths = set(paths_in(store, "demo"))
    store.close()
    assert paths == {f"docs/{n}.md" for n in names[:-4]} | {f"docs/new-{i}.md" for i in range(4)}


def _snapshot(store_dir: Path) -> dict[str, str]:
    store = EdgeStore(store_dir, dim=512)  # use-multilingual, pinned in the test
    try:
        return store_state(store)
    finally:
        store.close()


def test_bundled_sample_ingests_cleanly_and_answers_its_own_questions(
    edge_store: EdgeStore, embedder: BaseEmbedder
) -> None:
    from retrieval import HybridRetriever

    sample = REPO_ROOT / "samples" / "ossqa-docs"
    report = run_ingest(Ingester(store=edge_store, embedder=embedder), "ossqa", path=sample)
    assert report.errors == [] and report.docs_updated == len(list(sample.glob("*.md"))) >= 3
    retriever = HybridRetriever(store=edge_store, embedder=embedder)
    for query in ("How do I ingest GitHub discussions?", "如何导入 GitHub 讨论？"):
        paths = [h.path for h in retriever.search("ossqa", query, top_k=3)]
        assert "ingest.md" in paths, (query, paths)
    top = retriever.search("ossqa", "where is the index stored OSSQA_DATA_DIR", top_k=1)[0]
    assert top.path == "configuration.md"
