"""/console renders the operator's page (coverage, jobs, snapshot, charts, try-it panel) and
asks for a key when a read key is configured."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from api.app import create_app
from db.settings import Settings
from jobs.embedder import FakeEmbedder
from tests.support.api import API_KEY, seed, wait_ready


def _client(url: str, **settings: Any) -> TestClient[Any]:
    app = create_app(
        Settings(database_url=url, api_key=API_KEY, **settings),
        embedder_factory=lambda model: FakeEmbedder(dim=model.dim, name=model.name),
        refresh_interval=60,
    )
    return TestClient(app)


def test_console_shows_the_system_and_the_online_metrics(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    with _client(fresh_db_url) as client:
        wait_ready(client)
        item = next(iter(catalog.ids.values()))
        for _ in range(3):
            assert client.get(f"/items/{item}/similar").status_code == 200
        client.app.state["online"].recorder.flush(client.app.state["runtime"].engine)
        page = client.get("/console")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        for part in ('id="catalog"', 'id="snapshot"', 'id="jobs"', 'id="online"', 'id="try"'):
            assert part in html
        assert "all-MiniLM-L6-v2" in html and "100.0%" in html  # embedding coverage
        assert html.count("<svg") >= 4 and "Latency (ms)" in html
        assert "<td>similar</td><td>default</td>" in html.replace("\n", "")
        for mode in ("hybrid", "similar", "more_like", "user"):
            assert f'<option value="{mode}">' in html
        js = client.get("/console/static/console.js")
        assert js.status_code == 200 and "try-results" in js.text


def test_console_needs_the_read_key_when_one_is_set(fresh_db_url: str) -> None:
    seed(fresh_db_url)
    with _client(fresh_db_url, read_key="r1, r2") as client:
        assert client.get("/console").status_code == 401
        assert client.get("/console", params={"key": "wrong"}).status_code == 401
        assert client.get("/console", headers={"X-API-Key": "r2"}).status_code == 200
        opened = client.get("/console", params={"key": "r1"})
        assert opened.status_code == 200 and 'content="r1"' in opened.text
        assert "pgrec_key" in opened.headers.get("set-cookie", "")
        assert client.get("/console").status_code == 200  # the cookie now
        client.cookies.clear()
        assert client.get("/console", headers={"X-API-Key": API_KEY}).status_code == 200
