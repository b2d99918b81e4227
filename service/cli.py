"""`ossqa` command line. Each subcommand turns options into Settings/arguments and calls
one object; no logic lives here."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from ingest.types import PROJECT_MAX_CHARS, PROJECT_PATTERN
from retrieval.rerank.training.bases import BASES

# Models come from packages on disk; never try a model hub (fails offline and air-gapped).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _settings(**overrides: object):  # noqa: ANN202
    from pydantic import ValidationError

    from service.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:  # a bad value in the environment or .env: say which, no traceback
        lines = [f"  {'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        raise SystemExit("error: invalid setting(s)\n" + "\n".join(lines)) from None


def project_name(value: str) -> str:
    """The names the API accepts: a project ingested under another name could never be queried."""
    if len(value) > PROJECT_MAX_CHARS or not re.match(PROJECT_PATTERN, value):
        raise argparse.ArgumentTypeError(
            f"{value!r}: use letters, digits, '_', '.' and '-', starting with a letter or digit "
            f"(at most {PROJECT_MAX_CHARS} characters)"
        )
    return value


def cmd_ingest(args: argparse.Namespace) -> int:
    import httpx

    from service.server_file import running_server

    settings = _settings()
    path = Path(args.path).resolve() if args.path else None
    discussions = Path(args.discussions).resolve() if args.discussions else None
    if path is None and discussions is None:
        print("error: give a PATH and/or --discussions FILE", file=sys.stderr)
        return 2
    for p in (path, discussions):
        if p is not None and not p.exists():
            print(f"error: {p} does not exist", file=sys.stderr)
            return 2
    server = running_server(settings.ossqa_data_dir) if not settings.qdrant_url else None
    if server is not None:
        # The server owns the embedded store: hand it the job and follow it.
        print(f"handing the ingest to the running server at {server.url}")
        headers = {"Authorization": f"Bearer {server.token}"}
        body = {
            "project": args.project,
            "path": str(path) if path else None,
            "discussions": str(discussions) if discussions else None,
            "url_template": args.url_template,
        }
        job = httpx.post(f"{server.url}/admin/ingest", json=body, headers=headers, timeout=30).json()
        while job.get("state") in ("queued", "running"):
            time.sleep(1)
            job = httpx.get(f"{server.url}/admin/ingest/{job['id']}", headers=headers, timeout=30).json()
        print(job.get("summary") or job.get("error") or job)
        return 0 if job.get("state") == "done" else 1

    from ingest.errors import IngestError
    from retrieval.errors import BackendUnavailable
    from service.container import build_components

    try:
        components = build_components(settings)
    except (BackendUnavailable, IngestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        report = components.ingest(
            args.project, path=path, discussions=discussions, url_template=args.url_template, progress=True
        )
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        components.close()
    print(report.summary())
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    import httpx

    from service.server_file import running_server

    settings = _settings()
    if not args.yes:
        print(
            f"error: this removes project {args.project!r} from the index in {settings.ossqa_data_dir}, "
            "with its trained reranker; run again with --yes",
            file=sys.stderr,
        )
        return 2
    server = running_server(settings.ossqa_data_dir) if not settings.qdrant_url else None
    if server is not None:
        print(f"handing the delete to the running server at {server.url}")
        resp = httpx.delete(
            f"{server.url}/admin/projects/{args.project}",
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=600,  # waits for other projects' queued ingests
        )
        body = resp.json()
        if resp.status_code != 200:
            print(f"error: {body.get('error', body)}", file=sys.stderr)
            return 1
        chunks, reranker = body["chunks_deleted"], body["reranker_deleted"]
    else:
        from retrieval.errors import BackendUnavailable
        from service.container import build_components

        try:
            components = build_components(settings)
        except BackendUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        try:
            deleted = components.delete_project(args.project)
        finally:
            components.close()
        if deleted is None:
            print(f"error: unknown project {args.project!r}", file=sys.stderr)
            return 1
        chunks, reranker = deleted.chunks, deleted.reranker
    extra = " and its trained reranker" if reranker else ""
    kept = "conversations, feedback and the question log kept"
    print(f"deleted project {args.project!r}: {chunks} chunks{extra} ({kept})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.main import create_app
    from service.server_file import remove_server_file, running_server, write_server_file

    # Serving for people: warm the local model now rather than on the first question.
    settings = _settings(host=args.host, port=args.port, llm_autostart=True)
    other = running_server(settings.ossqa_data_dir) if not settings.qdrant_url else None
    if other is not None:
        where = f"pid {other.pid} at {other.url}"
        print(f"error: {settings.ossqa_data_dir} is already served by {where}", file=sys.stderr)
        return 1
    app = create_app(settings)
    info = write_server_file(settings.ossqa_data_dir, f"http://{settings.host}:{settings.port}")
    app.state.local_token = info.token
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    finally:
        remove_server_file(settings.ossqa_data_dir)
    return 0


def cmd_llm(args: argparse.Namespace) -> int:
    """Start the packaged local model server alone (for LLM_BASE_URL of another process)."""
    import signal
    import threading

    from service.llm import PACKAGED_MODELS, LocalLLMServer, LocalServerError, ModelFilesError, ensure_gguf

    settings = _settings()
    try:
        model = ensure_gguf(Path(settings.ossqa_data_dir), PACKAGED_MODELS[settings.local_llm])
        server = LocalLLMServer(
            model,
            port=args.port or settings.llm_port,
            threads=args.threads or settings.llm_threads,
            ctx=settings.llm_ctx,
        ).start()
    except (ModelFilesError, LocalServerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"LLM_BASE_URL={server.base_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def cmd_discord_register(args: argparse.Namespace) -> int:
    import httpx

    from service.bridges.discord import register_commands

    settings = _settings()
    try:
        command = register_commands(
            api_base=settings.discord_api_base,
            app_id=settings.discord_app_id,
            bot_token=settings.discord_bot_token,
            guild_id=args.guild or "",
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: Discord refused the command: {exc}", file=sys.stderr)
        return 1
    where = f"guild {args.guild}" if args.guild else "globally (may take up to an hour to appear)"
    print(f"registered /ask (id {command.get('id', '?')}) {where}")
    return 0


def cmd_fetch_github(args: argparse.Namespace) -> int:
    import httpx

    from ingest.github import GitHubError, fetch_github, write_export

    owner, _, repo = args.repo.partition("/")
    if not owner or not repo or "/" in repo:
        print("error: give the repository as OWNER/REPO", file=sys.stderr)
        return 2
    settings = _settings()
    include = ("discussions", "issues") if args.only is None else (args.only,)
    try:
        with httpx.Client() as client:
            records = fetch_github(
                owner,
                repo,
                settings.github_token,
                client=client,
                api_url=settings.github_api_url,
                include=include,
                limit=args.limit,
            )
    except GitHubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_export(records, Path(args.out))
    print(f"wrote {len(records)} records to {args.out}")
    print(f"ingest them with: ossqa ingest PROJECT --discussions {args.out}")
    return 0


def cmd_train_reranker(args: argparse.Namespace) -> int:
    from retrieval.errors import BackendUnavailable
    from retrieval.rerank.training.run import RerankerTrainConfig, TrainConfig, train_reranker
    from service.container import build_components

    settings = _settings()
    layers = {"keep_layers": args.layers} if args.layers else {}
    config = RerankerTrainConfig(
        generate=args.generate,
        generate_max_seconds=args.generate_minutes * 60,
        strong=not args.no_strong,
        top_n=settings.rerank_top_n,
        target_precision=args.target_precision,
        train=TrainConfig(max_seconds=args.train_minutes * 60, **layers),
        total_max_seconds=args.total_minutes * 60,
        base=args.base,
    )
    try:
        components = build_components(settings)
    except BackendUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    server = None
    try:
        if components.store.count(args.project) == 0:
            print(f"error: project {args.project!r} has no chunks; ingest it first", file=sys.stderr)
            return 1
        complete = None
        if config.generate > 0:
            base_url = settings.llm_base_url
            if not base_url:
                from service.llm.local_server import LocalLLMServer
                from service.llm.model_files import DEFAULT_MODEL, ensure_gguf

                # Two slots: llama.cpp batches two questions for little more than one's cost.
                # Always the 0.5B, whatever LOCAL_LLM answers with: the training budget (30 min)
                # was measured with its speed, and a slower writer would leave fewer questions.
                server = LocalLLMServer(
                    ensure_gguf(Path(settings.ossqa_data_dir), DEFAULT_MODEL),
                    threads=settings.llm_threads,
                    ctx=settings.llm_ctx,
                    parallel=2,
                ).start()
                base_url = server.base_url
            complete = _sync_complete(
                base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s
            )
        manifest = train_reranker(
            project=args.project,
            store=components.store,
            retriever=components.retriever,
            embedder=components.embedder,
            data_dir=Path(settings.ossqa_data_dir),
            complete=complete,
            config=config,
            log=lambda msg: print(msg, flush=True),
        )
    finally:
        if server is not None:
            server.close()
        components.close()
    import json

    print(json.dumps({k: manifest[k] for k in ("data", "training", "validation", "threshold")}, indent=1))
    return 0


def _sync_complete(base_url: str, model: str, api_key: str, timeout_s: float):  # noqa: ANN202
    """A blocking `complete(prompt) -> str` over the shared OpenAI-compatible client, for the
    question generator's worker threads (each call runs its own short event loop)."""
    import asyncio

    import httpx

    from service.llm.base import Message
    from service.llm.openai_compat import OpenAICompatLLM

    async def one(prompt: str) -> str:
        async with httpx.AsyncClient() as client:
            llm = OpenAICompatLLM(
                client, base_url=base_url, model=model, api_key=api_key, timeout_s=timeout_s
            )
            # Sampled for variety, seeded so a retrain draws the same samples (llama.cpp's prompt cache
            # can still shift a fresh prompt's numbers slightly).
            done = await llm.complete([Message("user", prompt)], max_tokens=48, temperature=0.7, seed=0)
            return done.text

    return lambda prompt: asyncio.run(one(prompt))


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.cli import run_eval

    return run_eval(args)


def cmd_refusal_threshold(args: argparse.Namespace) -> int:
    """Set or clear one project's refusal threshold; a running server is told, as for ingest."""
    import httpx

    from ingest.manifest import read_manifest
    from service.project_thresholds import ProjectThresholds
    from service.server_file import running_server

    if (args.value is None) == (not args.clear):
        print("error: give a threshold between 0 and 1, or --clear", file=sys.stderr)
        return 2
    settings = _settings()
    server = running_server(settings.ossqa_data_dir)
    if server is not None:
        print(f"handing the change to the running server at {server.url}")
        resp = httpx.put(
            f"{server.url}/admin/projects/{args.project}/refusal-threshold",
            json={"threshold": args.value},
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=30,
        )
        body = resp.json()
        if resp.status_code != 200:
            print(f"error: {body.get('error', body)}", file=sys.stderr)
            return 1
        previous = body["previous"]
    else:
        if args.project not in read_manifest(settings.ossqa_data_dir).get("projects", {}):
            print(f"error: unknown project {args.project!r}", file=sys.stderr)
            return 1
        previous = ProjectThresholds(settings.ossqa_data_dir).set(args.project, args.value)
    now = "cleared (the default applies)" if args.value is None else f"set to {args.value}"
    was = "not set" if previous is None else previous
    print(f"refusal threshold of {args.project!r} {now}; it was {was}")
    return 0


def threshold_value(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"{value!r}: a threshold is a number between 0 and 1")
    return number


def cmd_questions(args: argparse.Namespace) -> int:
    """What users asked, newest first; `--outcome refused` lists what the docs did not answer.
    Reads the log's SQLite file directly, so it works while `ossqa serve` runs."""
    from service.question_log import QUESTION_LOG_FILE, QuestionLog

    settings = _settings()
    path = Path(settings.ossqa_data_dir) / QUESTION_LOG_FILE
    if not path.exists():
        state = "on" if settings.question_log else "off (QUESTION_LOG=false)"
        print(f"no questions logged in {settings.ossqa_data_dir} yet; the question log is {state}")
        return 0
    since = time.time() - args.days * 86400 if args.days else 0.0
    rows = QuestionLog(path).export(project=args.project, outcome=args.outcome, since=since, limit=args.limit)
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"]))
        pages = ", ".join(r["paths"][:3]) or "-"
        print(f"{when}  {r['outcome']:<8}  {r['confidence']:.2f}  {r['question']}\n    {pages}")
    print(f"{len(rows)} question(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ossqa", description="Grounded Q&A over a project's knowledge.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="ingest a docs folder and/or a GitHub discussions/issues export")
    p.add_argument("project", type=project_name)
    p.add_argument("path", nargs="?", help="docs folder or repository checkout")
    p.add_argument("--discussions", help="JSON/JSONL export of GitHub discussions and issues")
    p.add_argument(
        "--url-template", default=None, help="e.g. https://github.com/O/R/blob/main/{path}#{anchor}"
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("delete", help="remove a project's chunks and trained reranker")
    p.add_argument("project", type=project_name)
    p.add_argument("--yes", action="store_true", help="confirm the deletion")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser(
        "questions", help="questions users asked; --outcome refused: what the docs do not answer"
    )
    p.add_argument("project", type=project_name)
    p.add_argument("--outcome", choices=["answered", "refused", "error"], default=None)
    p.add_argument("--days", type=float, default=0, help="only the last N days (0 = all)")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_questions)

    p = sub.add_parser("refusal-threshold", help="set (or --clear) one project's refusal threshold")
    p.add_argument("project", type=project_name)
    p.add_argument("value", nargs="?", type=threshold_value, default=None, help="0..1")
    p.add_argument("--clear", action="store_true", help="back to REFUSAL_THRESHOLD or the default")
    p.set_defaults(func=cmd_refusal_threshold)

    p = sub.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("llm", help="start the packaged local model server alone and print its URL")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_llm)

    p = sub.add_parser("fetch-github", help="export GitHub discussions and issues (needs GITHUB_TOKEN)")
    p.add_argument("repo", help="OWNER/REPO")
    p.add_argument("--out", required=True, help="export file (.json array or .jsonl)")
    p.add_argument("--only", choices=["discussions", "issues"], default=None)
    p.add_argument("--limit", type=int, default=None, help="most records of each kind (newest first)")
    p.set_defaults(func=cmd_fetch_github)

    p = sub.add_parser("train-reranker", help="fine-tune and calibrate the project's reranker")
    p.add_argument("project", type=project_name)
    p.add_argument("--generate", type=int, default=96, help="LLM-generated questions (0 = none)")
    p.add_argument("--generate-minutes", type=float, default=10.0, help="time budget for generation")
    p.add_argument(
        "--no-strong",
        action="store_true",
        help="skip all-mpnet-base-v2 passage vectors (~1.5 passages/s); English keeps the calibrated order",
    )
    p.add_argument("--train-minutes", type=float, default=14.0, help="most time for the training loop")
    p.add_argument(
        "--total-minutes",
        type=float,
        default=30.0,
        help="the whole run aims to end within this; the training loop gets what is left (at least 4 min)",
    )
    p.add_argument("--target-precision", type=float, default=0.9, help="refusal threshold target")
    p.add_argument(
        "--base",
        choices=sorted(BASES),
        default="minilm",
        help="cross-encoder starting checkpoint: minilm (English MiniLM) or e5 (multilingual-e5-small, "
        "measured no better on Chinese questions, ~3x slower at 12 layers)",
    )
    p.add_argument("--layers", type=int, default=None, help="encoder layers kept from the base (default 4)")
    p.set_defaults(func=cmd_train_reranker)

    p = sub.add_parser("eval", help="measure retrieval (and answers) on a question set")
    p.add_argument("what", choices=["retrieval"])
    p.add_argument("--project", required=True)
    p.add_argument("--questions", required=True, type=Path)
    p.add_argument("--corpus", type=Path, help="corpus folder (ingested first if given)")
    p.add_argument("--out", type=Path, default=None, help="markdown file for the results table")
    p.add_argument("--baselines", default="bm25,dense,hybrid,rank-bm25,llama-index")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("discord-register", help="register the Discord /ask slash command")
    p.add_argument("--guild", help="register in one server (instant) instead of globally")
    p.set_defaults(func=cmd_discord_register)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
