"""Helpers for the API tests (no tests here): a seeded catalog, apps and a real server.

The catalog is small and themed, embedded with the FakeEmbedder (hashed bag of words), so
"space adventure" really is nearest to the space items and filters have something to cut.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import uvicorn
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from bench.bench_server import free_port
from db.settings import Settings
from jobs.embedder import FakeEmbedder

MODEL = "all-MiniLM-L6-v2"
API_KEY = "test-key"

THEMES: dict[str, dict[str, Any]] = {
    "space": {
        "categories": ["Sci-Fi & Fantasy", "Action & Adventure"],
        "words": "space adventure galaxy starship planet astronaut alien orbit",
        "titles": [
            "Star Voyage",
            "Galaxy Quest Beyond",
            "Orbit of Mars",
            "The Last Astronaut",
            "Alien Frontier",
            "Starship Odyssey",
            "Planet Nine",
            "Deep Space Rescue",
        ],
    },
    "cooking": {
        "categories": ["Docuseries", "Reality TV"],
        "words": "cooking chef kitchen recipe food restaurant baking dinner",
        "titles": [
            "Chef's Table Stories",
            "Kitchen Rivals",
            "The Baking Hour",
            "Street Food Diaries",
            "Recipe for Love",
            "Restaurant Rescue",
            "Dinner at Eight",
            "The Spice Route",
        ],
    },
    "crime": {
        "categories": ["Crime TV Shows", "Thrillers"],
        "words": "crime detective heist murder police investigation robbery gang",
        "titles": [
            "The Great Heist",
            "Detective Lane",
            "Murder on Main Street",
            "Police Story Blue",
            "Robbery at Dawn",
            "Gang of the Docks",
            "The Investigation",
            "Cold Case Files",
        ],
    },
    "romance": {
        "categories": ["Romantic Movies", "Dramas"],
        "words": "love romance wedding heart couple kiss summer letters",
        "titles": [
            "Summer of Love",
            "The Wedding Letters",
            "Heart to Heart",
            "A Kiss in Paris",
            "Couple Goals",
            "Love Actually Again",
            "Letters to Juliet Two",
            "Romance Road",
        ],
    },
}
EXTRA_TITLES = ["The Shawshank Redemption", "Amélie à Paris"]
COUNTRIES = ["India", "United States", "France", "Japan"]


@dataclass(frozen=True)
class Catalog:
    ids: dict[str, int]  # external_id -> id
    themes: dict[int, str]  # id -> theme
    rows: dict[int, dict[str, Any]]  # id -> the inserted values

    def theme_ids(self, theme: str) -> set[int]:
        return {i for i, t in self.themes.items() if t == theme}


def _items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    n = 0
    for theme, spec in THEMES.items():
        for j, title in enumerate(spec["titles"]):
            n += 1
            words = spec["words"].split()
            items.append(
                {
                    "external_id": f"t:{n}",
                    "title": title,
                    "description": f"A story of {' '.join(words[j % 4 : j % 4 + 4])}.",
                    "kind": "Movie" if n % 3 else "TV Show",
                    "categories": spec["categories"][: 1 + (j % 2)],
                    "tags": [words[j % len(words)], "tag" + str(n % 3)],
                    "year": 1990 + (n * 7) % 32,
                    "price": round(1.5 * (n % 10), 2),
                    "available": n % 5 != 0,
                    "attributes": {"country": [COUNTRIES[n % 4]], "rating": "PG" if n % 2 else "R"},
                    "popularity": float((n * 13) % 50),
                    "_theme": theme,
                }
            )
    for title in EXTRA_TITLES:
        n += 1
        items.append(
            {
                "external_id": f"t:{n}",
                "title": title,
                "description": "A classic film about hope and prison friendship.",
                "kind": "Movie",
                "categories": ["Dramas", "Classic Movies"],
                "tags": ["classic"],
                "year": 1994,
                "price": 3.0,
                "available": True,
                "attributes": {"country": ["United States"]},
                "popularity": 49.0,
                "_theme": "classic",
            }
        )
    return items


def vector_literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7f}" for x in v) + "]"


def embed_all(conn: psycopg.Connection[Any], *, only_missing: bool = False) -> int:
    """Embed items with the FakeEmbedder, as the worker would (text = pgrec_embed_text)."""
    where = " WHERE e.item_id IS NULL" if only_missing else ""
    rows = conn.execute(
        "SELECT i.id, pgrec_embed_text(i.title, i.categories, i.tags, i.description),"
        " i.content_hash FROM items i LEFT JOIN item_embeddings e"
        f" ON e.item_id = i.id AND e.model = %s{where}",
        (MODEL,),
    ).fetchall()
    if not rows:
        return 0
    vectors = FakeEmbedder().encode([r[1] for r in rows])
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
            " VALUES (%s, %s, %s::vector, %s) ON CONFLICT (item_id, model) DO UPDATE SET"
            " embedding = EXCLUDED.embedding, content_hash = EXCLUDED.content_hash,"
            " embedded_at = clock_timestamp()",
            [(r[0], MODEL, vector_literal(v), r[2]) for r, v in zip(rows, vectors, strict=True)],
        )
    return len(rows)


def seed(url: str) -> Catalog:
    """Insert the themed catalog, its vectors and a few users' interactions."""
    items = _items()
    ids: dict[str, int] = {}
    themes: dict[int, str] = {}
    rows: dict[int, dict[str, Any]] = {}
    with psycopg.connect(url) as conn:
        for item in items:
            row = conn.execute(
                "INSERT INTO items (external_id, title, description, kind, categories, tags,"
                " year, price, available, attributes, popularity)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s) RETURNING id",
                (
                    item["external_id"],
                    item["title"],
                    item["description"],
                    item["kind"],
                    item["categories"],
                    item["tags"],
                    item["year"],
                    item["price"],
                    item["available"],
                    psycopg.types.json.Json(item["attributes"]),
                    item["popularity"],
                ),
            ).fetchone()
            assert row is not None
            ids[item["external_id"]] = row[0]
            themes[row[0]] = item["_theme"]
            rows[row[0]] = item
        embed_all(conn)
        space = [i for i, t in themes.items() if t == "space"]
        cooking = [i for i, t in themes.items() if t == "cooking"]
        now = dt.datetime.now(dt.UTC)
        events: list[tuple[str, int, str, float | None]] = [
            ("alice", i, "like", None) for i in space[:3]
        ]
        events += [("alice", cooking[0], "view", None), ("bob", cooking[1], "rating", 5.0)]
        for n, (user, item_id, event, value) in enumerate(events):
            conn.execute(
                "INSERT INTO interactions (user_id, item_id, event, value, occurred_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (user, item_id, event, value, now - dt.timedelta(hours=n)),
            )
    return Catalog(ids=ids, themes=themes, rows=rows)


# Read models of test databases go to a temporary directory, not the worktree's .pgrec.
READMODEL_DIR = Path(tempfile.gettempdir()) / f"pgrec-test-readmodel-{os.getuid()}"


def settings_for(url: str, *, api_key: str | None = API_KEY) -> Settings:
    # Rate limiting off: tests fire requests faster than any client should (tested apart).
    return Settings(database_url=url, api_key=api_key, rate_limit=0, readmodel_dir=READMODEL_DIR)


def make_app(
    url: str, *, lazy: bool = False, api_key: str | None = API_KEY, refresh: float = 0.2
) -> Litestar:
    return create_app(
        settings_for(url, api_key=api_key),
        embedder_factory=lambda model: FakeEmbedder(dim=model.dim, name=model.name),
        lazy=lazy,
        refresh_interval=refresh,
    )


def wait_until(predicate: Any, *, timeout: float = 15.0, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(every)


def wait_ready(
    client: TestClient[Litestar] | httpx.Client, timeout: float = 15.0, require: str = "semantic"
) -> None:
    """Until /health/ready answers 200 for `require` (by default: semantic is up, the query
    encoder included; "" for the read model alone)."""
    params = {"require": require} if require else None
    wait_until(
        lambda: client.get("/health/ready", params=params).status_code == 200, timeout=timeout
    )


@contextlib.contextmanager
def ready_client(url: str, **kwargs: Any) -> Iterator[TestClient[Litestar]]:
    """A client once the API is ready and its query encoder loaded: /health/ready answers 200
    as soon as the read model is mapped, and the encoder (which semantic modes need) comes
    right after, so a test that asked at once could meet its 503."""
    with TestClient(make_app(url, **kwargs)) as client:
        wait_ready(client)
        runtime = client.app.state["runtime"]
        wait_until(lambda: runtime.serving is not None or runtime.load_error is not None)
        yield client


@contextlib.contextmanager
def running_server(app: Litestar) -> Iterator[str]:
    """A real uvicorn server in a thread (true concurrency); yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
