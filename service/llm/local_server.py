"""The embedded default generator: llama.cpp's OpenAI-compatible server (via `xllamacpp`)
serving the packaged Qwen2.5-Coder-0.5B GGUF on 127.0.0.1.

The server runs in a child process (`python -m service.llm.local_server`): llama.cpp keeps
its own threads and ~700 MB of memory, and a child can be stopped cleanly, and cannot take the
API process down with it.

    with LocalLLMServer(model_path, threads=1) as server:
        print(server.base_url)  # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

DEFAULT_CTX = 4096


class LocalServerError(RuntimeError):
    """The local model server did not become healthy."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    def __init__(
        self,
        model_path: Path,
        *,
        port: int = 0,
        threads: int = 1,
        ctx: int = DEFAULT_CTX,
        parallel: int = 1,
        startup_timeout_s: float = 120.0,
        log_path: Path | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.threads = threads
        self.ctx = ctx
        self.parallel = parallel
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, for OpenAICompatLLM."""
        return f"{self.url}/v1"

    def start(self) -> LocalLLMServer:
        """Spawn the server and wait (bounded) until /health answers 200."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return self
            cmd = [
                sys.executable,
                "-m",
                "service.llm.local_server",
                "--model",
                str(self.model_path),
                "--port",
                str(self.port),
                "--threads",
                str(self.threads),
                "--ctx",
                str(self.ctx),
                "--parallel",
                str(self.parallel),
            ]
            log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
            if log is not subprocess.DEVNULL:
                log.close()  # the child holds its own handle
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        delay = 0.2
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise LocalServerError(f"local LLM server exited with code {self._proc.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)
        self.close()
        raise LocalServerError(f"local LLM server not healthy after {self.startup_timeout_s:.0f} s")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(model: str, port: int, threads: int, ctx: int, parallel: int) -> None:
    """Child-process body: run llama.cpp's server until SIGTERM."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_ctx = ctx
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.warmup = False
    params.verbosity = 0
    parent = os.getppid()
    server = xllamacpp.Server(params)  # starts listening; keep a reference alive
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        # Also stop when the parent dies without closing us (killed, crashed): no orphan
        # keeps 700 MB and a port.
        while not stop.wait(2.0):
            if os.getppid() != parent:
                break
    finally:
        del server
        os._exit(0)  # llama.cpp threads would otherwise keep the process alive


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="run the packaged local LLM server (child process)")
    p.add_argument("--model", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ctx", type=int, default=DEFAULT_CTX)
    p.add_argument("--parallel", type=int, default=1)
    a = p.parse_args(argv)
    _serve(a.model, a.port, a.threads, a.ctx, a.parallel)


if __name__ == "__main__":
    main()
