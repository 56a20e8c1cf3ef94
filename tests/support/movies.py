"""TMDB movies as items with FakeEmbedder vectors, for the neighbour and cluster job tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector

from jobs.embedder import FakeEmbedder

ACTIVE = "all-MiniLM-L6-v2"


def tmdb_movies(shared_data: Path, n: int) -> list[dict[str, object]]:
    """The first `n` TMDB movies that have an overview: title, overview, genre names."""
    path = shared_data / "tmdb_5000_movies" / "tmdb_5000_movies.csv"
    movies: list[dict[str, object]] = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["overview"].strip() and row["title"].strip():
                genres = [g["name"] for g in json.loads(row["genres"] or "[]")]
                movies.append(
                    {
                        "id": row["id"],
                        "title": row["title"],
                        "overview": row["overview"],
                        "genres": genres,
                    }
                )
            if len(movies) == n:
                break
    return movies


def load_catalog(url: str, movies: list[dict[str, object]], model: str = ACTIVE) -> None:
    """Insert movies as items and their FakeEmbedder vectors as current embeddings."""
    with psycopg.connect(url) as c:
        register_vector(c)
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO items (external_id, title, description, categories)"
                " VALUES (%s, %s, %s, %s)",
                [(f"tmdb:{m['id']}", m["title"], m["overview"], m["genres"]) for m in movies],
            )
        rows = c.execute(
            "SELECT id, pgrec_embed_text(title, categories, tags, description), content_hash"
            " FROM items ORDER BY id"
        ).fetchall()
        vectors = FakeEmbedder(dim=384).encode([r[1] for r in rows])
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
                " VALUES (%s, %s, %s, %s)",
                [(r[0], model, v, r[2]) for r, v in zip(rows, vectors, strict=True)],
            )
