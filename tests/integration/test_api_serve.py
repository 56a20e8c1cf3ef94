"""`pgrec serve --workers 2` for real: uvicorn runs the factory, /metrics sums the workers, and
each worker listens on a socket of its own (SO_REUSEPORT: the kernel spreads connections)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.bench_server import free_port
from tests.support.api import seed, wait_until


def _listening_sockets(pid: int, port: int) -> dict[int, set[str]]:
    """worker pid -> inodes of the sockets it listens on `port` with."""
    out: dict[int, set[str]] = {}
    for child in psutil.Process(pid).children():
        for conn in child.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                inode = os.readlink(Path(f"/proc/{child.pid}/fd/{conn.fd}"))
                out.setdefault(child.pid, set()).add(inode)
    return out


@pytest.fixture
def served(fresh_db_url: str) -> Iterator[tuple[str, int]]:
    seed(fresh_db_url)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": fresh_db_url, "PGREC_API_KEY": "k"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgrec",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--lazy",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def live() -> bool:
        try:
            return httpx.get(f"{base}/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None  # died: stop waiting, the assert below says why

    try:
        wait_until(live, timeout=60, every=0.2)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_serve_with_two_workers(served: tuple[str, int]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=10) as http:
        for _ in range(20):
            response = http.get("/recommendations", params={"mode": "terms", "q": "space"})
            assert response.status_code == 200, response.text
        assert http.get("/health/ready").status_code == 503  # --lazy: nothing loaded yet
        assert http.post("/load_models").status_code == 401  # the key came from the env
        status = http.get("/status").json()
        assert status["lazy"] is True and status["api_key_required"] is True
        time.sleep(0.2)
        families = {f.name: f for f in text_string_to_metric_families(http.get("/metrics").text)}
    counts = [
        s.value
        for s in families["pgrec_request_duration_seconds"].samples
        if s.name.endswith("_count")
        and s.labels["route"] == "/recommendations"
        and s.labels["mode"] == "terms"
    ]
    assert sum(counts) == 20  # every worker's requests, whichever worker answered /metrics


def test_each_worker_listens_on_a_socket_of_its_own(served: tuple[str, int]) -> None:
    base, pid = served
    port = int(base.rsplit(":", 1)[1])
    found: dict[int, set[str]] = {}

    def both_listen() -> bool:  # a worker listens once its app has started
        found.clear()
        found.update(_listening_sockets(pid, port))
        return len(found) == 2

    wait_until(both_listen, timeout=60, every=0.2)
    inodes = [inode for sockets in found.values() for inode in sockets]
    # One socket shared by both would let one worker accept every kept-alive connection.
    assert len(inodes) == 2 and len(set(inodes)) == 2, found
    taken = subprocess.run(
        [sys.executable, "-m", "pgrec", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, "PGREC_DEV": "1", "DATABASE_URL": "postgresql:///unused"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert taken.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
