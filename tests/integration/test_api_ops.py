"""Operations endpoints on a real database: /status, /metrics, health, and an open API."""

from __future__ import annotations

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import ready_client, seed


def test_status_reports_models_snapshot_counts_and_uptime(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    with ready_client(fresh_db_url, refresh=60) as client:
        status = client.get("/status").json()
    assert status["ready"] is True and status["uptime_seconds"] >= 0
    assert status["active_model"] == "all-MiniLM-L6-v2"
    assert status["models"][0]["vectors"] == len(catalog.rows)
    snap = status["snapshot"]
    assert snap["version"] == 1 and snap["size"] == len(catalog.rows)
    assert snap["stale"] is False and snap["age_seconds"] >= 0 and snap["built_at"]
    assert status["counts"]["items"] == len(catalog.rows)
    assert status["counts"]["users"] == 2
    assert status["pending_embeddings"] == 0
    assert status["embedder"]["dim"] == 384
    assert status["api_key_required"] is True


def test_metrics_expose_latency_per_route_and_mode(fresh_db_url: str) -> None:
    seed(fresh_db_url)
    with ready_client(fresh_db_url, refresh=60) as client:
        for mode in ("semantic", "terms", "hybrid"):
            assert client.get("/recommendations", params={"mode": mode, "q": "space"}).is_success
        assert client.get("/recommendations", params={"mode": "bogus", "q": "x"}).status_code == 400
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    latency = families["pgrec_request_duration_seconds"]
    assert latency.type == "histogram"
    counts = {
        (s.labels["route"], s.labels["mode"]): s.value
        for s in latency.samples
        if s.name.endswith("_count")
    }
    for mode in ("semantic", "terms", "hybrid"):
        assert counts[("/recommendations", mode)] == 1
    assert any(s.name.endswith("_bucket") for s in latency.samples)
    statuses = {
        s.labels["status"]
        for s in families["pgrec_requests"].samples
        if s.labels["route"] == "/recommendations"
    }
    assert {"200", "400"} <= statuses
    assert families["pgrec_snapshot_version"].samples[0].value == 1
    assert families["pgrec_snapshot_age_seconds"].samples[0].value >= 0
    assert families["pgrec_ready"].samples[0].value == 1


def test_open_api_warns_at_startup(fresh_db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="api.app"),
        ready_client(fresh_db_url, api_key=None, refresh=60) as client,
    ):
        response = client.post("/items", json=[{"external_id": "open:1", "title": "Open Door"}])
        assert response.status_code == 200, response.text
        assert client.get("/status").json()["api_key_required"] is False
    assert any("no API key" in r.getMessage() for r in caplog.records)
