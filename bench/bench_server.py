"""The API under test: `pgrec serve` as a subprocess on 127.0.0.1, its cold start and its memory.

`ApiServer` starts the process, times process start -> `GET /health/ready` 200 (cold start
to ready), reads `/status` and the process tree's RSS, and stops it (SIGINT, then SIGTERM,
then SIGKILL). With `fake=True` the same app runs with the FakeEmbedder (tiny runs and
tests, where loading the real model is not the point): `fake_app` is that uvicorn factory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import psutil
from litestar import Litestar

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 300.0
POLL = 0.05


def fake_app() -> Litestar:
    """uvicorn factory: the real app with the deterministic FakeEmbedder."""
    from api.app import create_app
    from db.settings import get_settings
    from jobs.embedder import FakeEmbedder

    return create_app(
        get_settings(), embedder_factory=lambda model: FakeEmbedder(dim=model.dim, name=model.name)
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(port: int, *, fake: bool, workers: int = 1) -> list[str]:
    """The server command line: `pgrec serve`, or uvicorn on fake_app."""
    if fake:
        app = ["-m", "uvicorn", "bench.bench_server:fake_app", "--factory"]
        return [sys.executable, *app, *_listen(port), *_workers(workers), "--log-level", "warning"]
    serve = [sys.executable, "-m", "pgrec", "serve", *_listen(port), "--workers", str(workers)]
    return [*serve, "--log-level", "warning"]


def _workers(workers: int) -> list[str]:
    return [] if workers == 1 else ["--workers", str(workers)]


def _listen(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


class ServerError(RuntimeError):
    """The server exited or never became ready; the message holds its log's tail."""


class ApiServer:
    ready_path = "/health/ready"

    def __init__(
        self,
        *,
        database_url: str,
        fake: bool,
        log_path: Path,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.fake = fake
        self.log_path = log_path
        self.workers = workers
        self.extra_env = dict(extra_env or {})
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.cold_start_s: float | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = READY_TIMEOUT) -> float:
        """Start the process and wait for readiness; returns seconds from start to ready."""
        env = {k: v for k, v in os.environ.items() if k != "PGREC_API_KEY"}
        env.update(
            DATABASE_URL=self.database_url,
            # Open writes and no rate limit: the load generator is the only client.
            PGREC_DEV="1",
            PGREC_RATE_LIMIT="0",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv(),
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = started + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise ServerError(f"server exited with {self.proc.returncode}: {self.tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(self.ready_path).status_code == 200:
                        self.cold_start_s = time.perf_counter() - started
                        return self.cold_start_s
                time.sleep(POLL)
        detail = self.status().get("load_error") if self.proc.poll() is None else None
        self.stop()
        raise ServerError(f"not ready after {timeout:.0f} s ({detail}): {self.tail()}")

    def settle(self, timeout: float = READY_TIMEOUT) -> float:
        """Wait until every worker listens and has its query encoder; returns the seconds since
        start. Ready means the read model serves; the encoder loads after that and takes CPU
        meanwhile, so a load pass started at ready would measure the loading too."""
        started = time.perf_counter()
        deadline = started + timeout
        in_a_row = 0
        while time.perf_counter() < deadline and in_a_row < 3 * self.workers:
            if self.proc is None or self.proc.poll() is not None:
                raise ServerError(f"server exited: {self.tail()}")
            # A new connection each time: the kernel picks a worker per connection.
            try:
                body = httpx.get(self.base_url + self.ready_path, timeout=2.0).json()
                up = bool(body.get("modes", {}).get("semantic", True))
            except (httpx.HTTPError, ValueError, AttributeError):
                up = False
            in_a_row = in_a_row + 1 if up and self.listening() >= self.workers else 0
            time.sleep(POLL)
        return (self.cold_start_s or 0.0) + time.perf_counter() - started

    def listening(self) -> int:
        """Processes of the server that listen on its port (each worker once it has started)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        try:
            root = psutil.Process(self.proc.pid)
            procs = root.children(recursive=True) if self.workers > 1 else [root]
            return sum(
                any(c.status == psutil.CONN_LISTEN for c in p.net_connections("tcp")) for p in procs
            )
        except psutil.Error:
            return 0

    def argv(self) -> list[str]:
        return command(self.port, fake=self.fake, workers=self.workers)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None or self.proc.poll() is not None else self.proc.pid

    def status(self) -> dict[str, Any]:
        """GET /status, or {} when it does not answer."""
        try:
            r = httpx.get(self.base_url + "/status", timeout=10.0)
            return dict(r.json()) if r.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}

    def rss_bytes(self) -> int | None:
        """Resident memory of the server process and its children (uvicorn workers)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
            return int(sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            return None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        """SIGINT (graceful), then SIGTERM, then SIGKILL; waits for the process to end."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                proc.send_signal(sig)
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._log is not None:
            self._log.close()
            self._log = None
