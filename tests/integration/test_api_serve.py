"""`pgrec serve --workers 2` for real: uvicorn runs the factory and /metrics sums the workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.bench_server import free_port
from tests.support.api import seed, wait_until


@pytest.fixture
def served(fresh_db_url: str) -> Iterator[str]:
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
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_serve_with_two_workers(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as http:
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
