"""Serving through an outage, on a private embedded Postgres that the tests stop and start:
read-model modes answer 200 flagged stale, the others 503 with Retry-After (no hang, no 500),
readiness names the modes that are up, errors are logged once per interval, and everything
recovers by itself once Postgres is back; a process started during the outage serves too."""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db import embedded, migrate
from tests.support.api import (
    Catalog,
    make_app,
    running_server,
    seed,
    wait_ready,
    wait_until,
)

# Every request of these tests must answer well within this, outage or not: a hang fails.
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def private_pg() -> Iterator[tuple[Path, str, Catalog]]:
    """A server of its own (the shared test server must never stop), in a directory the
    server's system user can reach (pytest's tmp_path is private to root)."""
    top = Path(tempfile.mkdtemp(prefix="pgrec-outage-"))
    top.chmod(0o755)
    pgdata = top / "pgdata"
    try:
        url = _start(pgdata)  # the URL carries the server's password
        migrate.upgrade(url)
        yield pgdata, url, seed(url)
    finally:
        embedded.stop(pgdata)
        shutil.rmtree(top, ignore_errors=True)


def _ready(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/health/ready")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _start(pgdata: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return embedded.start(pgdata)


def _check_read_model_modes(http: httpx.Client, catalog: Catalog) -> None:
    space = sorted(catalog.theme_ids("space"))
    answers = [
        http.get(f"/items/{space[0]}/similar", params={"n": "5"}),
        http.get(f"/items/{space[0]}/similar", params={"n": "5", "available": "true"}),
        http.get("/recommendations", params={"mode": "semantic", "q": "space adventure"}),
        http.post("/recommendations/from-items", json={"positive": space[:2]}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["stale"] is True and body["snapshot_version"] >= 1 and body["results"]
        assert answer.headers["x-pgrec-stale"] == "true"
        assert answer.headers["x-pgrec-read-model"] == str(body["snapshot_version"])
    assert set(space[1:5]) & {r["id"] for r in answers[0].json()["results"]}


def _check_postgres_modes_fail_fast(http: httpx.Client) -> None:
    needs_postgres = [
        ("/recommendations", {"mode": "terms", "q": "space"}),
        ("/recommendations", {"mode": "title", "q": "star voyage"}),
        ("/recommendations", {"mode": "hybrid", "q": "space"}),
        ("/recommendations", {"mode": "semantic", "q": "space", "kind": "Movie"}),
        ("/users/alice/recommendations", {}),
        ("/status", {}),
        ("/items/facets", {}),  # asked before the outage: its cached answer is not used
    ]
    for path, params in needs_postgres:
        answer = http.get(path, params=params)
        assert answer.status_code == 503, (path, answer.text)
        assert int(answer.headers["retry-after"]) >= 1


def test_outage_serves_stale_fails_fast_and_recovers(
    private_pg: tuple[Path, str, Catalog], caplog: pytest.LogCaptureFixture
) -> None:
    pgdata, url, catalog = private_pg
    app = make_app(url, refresh=0.5)
    with running_server(app) as base, httpx.Client(base_url=base, timeout=TIMEOUT) as http:
        wait_ready(http)
        wait_until(lambda: _ready(http)["stale"] is False)
        assert http.get("/items/facets").status_code == 200
        assert _ready(http)["modes"]["terms"] is True
        fast = app.state["runtime"].fast  # filtered semantic's asyncio connections
        wait_until(lambda: fast.current is not None)
        opened = fast.opened
        embedded.stop(pgdata)
        try:
            wait_until(lambda: _ready(http)["database"] == "down", timeout=10)
            assert fast.current is None  # retired: they would fail; reopened when it is back
            ready = _ready(http)
            assert ready["status"] == "degraded" and ready["stale"] is True
            assert ready["modes"]["similar"] and ready["modes"]["semantic"]
            assert not ready["modes"]["terms"] and not ready["modes"]["user"]
            # A balancer that routes only what the read model answers stays with this worker;
            # one that needs terms is told to wait, with the modes that are up.
            assert http.get("/health/ready", params={"require": "similar,semantic"}).is_success
            needs_terms = http.get("/health/ready", params={"require": ["similar", "terms"]})
            assert needs_terms.status_code == 503 and int(needs_terms.headers["retry-after"]) > 0
            assert "terms" in needs_terms.json()["detail"]
            assert needs_terms.json()["extra"]["modes"]["terms"] is False
            _check_read_model_modes(http, catalog)
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                for _ in range(5):
                    _check_postgres_modes_fail_fast(http)
            outage_lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
            assert 1 <= len(outage_lines) <= 3  # 30 failures, logged once per interval
        finally:
            _start(pgdata)
        # Back by itself: Postgres modes answer again and the read model is fresh.
        wait_until(lambda: _ready(http)["database"] == "up", timeout=10)
        assert http.get("/health/ready", params={"require": "terms,user,writes"}).is_success
        terms = http.get("/recommendations", params={"mode": "terms", "q": "space"})
        assert terms.status_code == 200 and terms.json()["results"]
        movies = {"mode": "semantic", "q": "space", "kind": "Movie"}
        assert http.get("/recommendations", params=movies).json()["results"]  # either path
        wait_until(lambda: fast.current is not None and fast.opened > opened, timeout=10)
        queries = fast.current.queries
        assert http.get("/recommendations", params=movies).json()["results"]
        assert fast.current.queries == queries + 1
        wait_until(lambda: _ready(http)["stale"] is False, timeout=10)
        similar = http.get(f"/items/{min(catalog.rows)}/similar").json()
        assert "stale" not in similar and similar["results"]


def test_a_process_started_during_the_outage_serves_the_last_read_model(
    private_pg: tuple[Path, str, Catalog],
) -> None:
    pgdata, url, catalog = private_pg
    with running_server(make_app(url)) as base, httpx.Client(base_url=base) as http:
        wait_ready(http)  # publishes the current read model
    embedded.stop(pgdata)
    try:
        app = make_app(url, refresh=0.5)
        with running_server(app) as base, httpx.Client(base_url=base, timeout=TIMEOUT) as http:
            wait_ready(http, timeout=15)
            assert _ready(http)["database"] == "down"
            _check_read_model_modes(http, catalog)
            _check_postgres_modes_fail_fast(http)
    finally:
        _start(pgdata)
