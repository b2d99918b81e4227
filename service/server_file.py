"""`ossqa serve` records where it listens in OSSQA_DATA_DIR/server.json (mode 0600, with a
one-off admin token), so `ossqa ingest` on the same data dir hands its job to the running
server instead of hitting the engine's one-process lock."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int
    token: str


def _file(data_dir: Path) -> Path:
    return Path(data_dir) / "server.json"


def write_server_file(data_dir: Path, url: str) -> ServerInfo:
    info = ServerInfo(url=url, pid=os.getpid(), token=secrets.token_urlsafe(24))
    path = _file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info.__dict__, fh)
    return info


def remove_server_file(data_dir: Path) -> None:
    path = _file(data_dir)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_server(data_dir: Path) -> ServerInfo | None:
    """The live server for this data dir, or None (stale files are ignored)."""
    try:
        raw = json.loads(_file(data_dir).read_text())
        info = ServerInfo(url=str(raw["url"]), pid=int(raw["pid"]), token=str(raw["token"]))
        os.kill(info.pid, 0)
        httpx.get(f"{info.url}/healthz", timeout=5).raise_for_status()
        return info
    except (OSError, ValueError, KeyError, httpx.HTTPError):
        return None
