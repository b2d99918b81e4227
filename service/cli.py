"""`ossqa` command line. Each subcommand turns options into Settings/arguments and calls
one object; no logic lives here."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Models come from packages on disk; never try a model hub (fails offline and air-gapped).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _settings(**overrides: object):  # noqa: ANN202
    from service.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


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
    from ingest.run import run_ingest
    from retrieval.errors import BackendUnavailable
    from service.container import build_components

    try:
        components = build_components(settings)
    except BackendUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        report = run_ingest(
            components.ingester(args.url_template),
            args.project,
            path=path,
            discussions=discussions,
            progress=True,
        )
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        components.close()
    print(report.summary())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.main import create_app
    from service.server_file import remove_server_file, write_server_file

    # Serving for people: warm the local model now rather than on the first question.
    settings = _settings(host=args.host, port=args.port, llm_autostart=True)
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

    from service.llm import LocalLLMServer, LocalServerError, ModelFilesError, ensure_gguf

    settings = _settings()
    try:
        model = ensure_gguf(Path(settings.ossqa_data_dir))
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


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.cli import run_eval

    return run_eval(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ossqa", description="Grounded Q&A over a project's knowledge.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="ingest a docs folder and/or a GitHub discussions/issues export")
    p.add_argument("project")
    p.add_argument("path", nargs="?", help="docs folder or repository checkout")
    p.add_argument("--discussions", help="JSON/JSONL export of GitHub discussions and issues")
    p.add_argument(
        "--url-template", default=None, help="e.g. https://github.com/O/R/blob/main/{path}#{anchor}"
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("llm", help="start the packaged local model server alone and print its URL")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_llm)

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
