"""The acceptance checks on real data: the Netflix sample, embedded by the real model, queried
through HTTP (slow: loads all-MiniLM-L6-v2 and embeds 2,202 items)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api import fusion
from api.app import create_app
from db.ingest import ingest_file
from jobs.embedder import Embedder, load_embedder
from jobs.worker import Embedders, run_embed
from tests.support.api import settings_for, wait_ready
from tests.support.databases import ROOT, engine_for, private_database

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="module")
def client(
    server_url: str, template_url: str, embedder: Embedder
) -> Iterator[TestClient[Litestar]]:
    with private_database(server_url, template_url) as url, engine_for(url) as engine:
        with engine.begin() as conn:
            ingest_file(conn=conn, path=Path(ROOT / "data" / "netflix_sample.csv"), fmt="netflix")
        run_embed(engine, embedders=Embedders(loader=lambda path, name: embedder))
        app = create_app(settings_for(url), embedder_factory=lambda model: embedder)
        with TestClient(app) as c:
            wait_ready(c, timeout=60)
            yield c


def _results(client: TestClient[Litestar], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/recommendations", params=params)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_semantic_space_adventure_is_science_fiction(client: TestClient[Litestar]) -> None:
    results = _results(client, mode="semantic", q="space adventure", n=10, fields="categories")
    scifi = [r for r in results if any("Sci-Fi" in c for c in r["categories"])]
    assert len(scifi) >= 5, [(r["title"], r["categories"]) for r in results]


def test_title_mode_finds_a_misspelled_title(client: TestClient[Litestar]) -> None:
    assert _results(client, mode="title", q="incepshon")[0]["title"] == "Inception"
    assert _results(client, mode="title", q="deep blu see")[0]["title"] == "Deep Blue Sea"


def test_terms_mode_finds_a_known_phrase(client: TestClient[Litestar]) -> None:
    titles = [r["title"] for r in _results(client, mode="terms", q='"masters of the universe"')]
    assert "He-Man and the Masters of the Universe" in titles


def test_hybrid_under_filters(client: TestClient[Litestar]) -> None:
    results = _results(
        client,
        mode="hybrid",
        q="space adventure",
        kind="movie",
        year_min=2010,
        fields="kind,year",
        explain="true",
    )
    assert results and all(r["kind"] == "movie" and r["year"] >= 2010 for r in results)
    assert any("semantic" in r["explain"]["modes"] for r in results)
    weights, k = fusion.HYBRID_WEIGHTS, fusion.HYBRID_K
    for r in results:  # the first pass's score: the weighted RRF sum over the modes that had it
        modes = r["explain"]["modes"]
        if "feedback" in modes:  # re-ranked by feedback: terms had it, its cosine is shown
            assert "terms" in modes and -1 <= modes["feedback"]["score"] <= 1
        elif fusion.HYBRID_FEEDBACK is None:
            rrf = sum(weights[m] / (k + v["rank"]) for m, v in modes.items())
            assert r["score"] == pytest.approx(rrf)
