"""The eval database: created from the migrations, loaded with the catalog and training only.

It is a database of its own (`pgrec_eval`, or `pgrec_eval_fake` for the fake embedder) on
the server pgrec already uses, so the eval never writes into the service's data. Each run
upserts the catalog through the ingest path (unchanged rows, and so their vectors, stay),
deletes items no longer in the file, and replaces the interactions with the split's training
events. Vectors are computed only for items whose content changed or that have none.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from sqlalchemy import Connection, text

from bench.eval_protocol import Event
from db import migrate
from db.embeddings import pending_embeddings
from db.ingest import ingest_file
from db.ingest.writer import driver_connection
from db.recs.calls import vector_literal
from jobs.embedder import Embedder

log = logging.getLogger(__name__)

BATCH = 64  # texts per encode call


def with_database(url: str, name: str) -> str:
    """The same server URL aimed at database `name`."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the server if missing, migrate it to head; return its URL."""
    with psycopg.connect(server_url, autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url, name)
    migrate.upgrade(url)
    return url


def tmdb_ids(path: Path) -> set[int]:
    """The TMDb ids of a tmdb_5000_movies.csv file."""
    with path.open(newline="", encoding="utf-8") as f:
        return {int(row["id"]) for row in csv.DictReader(f)}


def load_catalog(*, conn: Connection, path: Path) -> dict[int, int]:
    """Upsert the TMDB catalog (ingest's tmdb format), drop other items; tmdbId -> items.id."""
    summary = ingest_file(conn=conn, path=path, fmt="tmdb")
    if not summary.written:
        raise ValueError(f"{path}: rejected by ingest: {summary.errors[:3]}")
    keep = [f"tmdb:{i}" for i in sorted(tmdb_ids(path))]
    conn.execute(text("DELETE FROM items WHERE NOT (external_id = ANY(:keep))"), {"keep": keep})
    rows = conn.execute(text("SELECT external_id, id FROM items")).all()
    conn.commit()
    log.info("catalog: %s", summary.line())
    return {int(r.external_id.removeprefix("tmdb:")): int(r.id) for r in rows}


def load_training(*, conn: Connection, events: Sequence[Event]) -> None:
    """Replace every interaction with the training events (event 'rating', value = stars)."""
    conn.execute(text("TRUNCATE interactions"))
    copy_sql = "COPY interactions (user_id, item_id, event, value, occurred_at) FROM STDIN"
    with driver_connection(conn).cursor() as cur, cur.copy(copy_sql) as copy:
        for e in events:
            copy.write_row(
                (e.user, e.item, "rating", e.value, dt.datetime.fromtimestamp(e.ts, dt.UTC))
            )
    conn.commit()


def activate_model(*, conn: Connection, name: str, dim: int) -> None:
    """Register `name` if unknown and make it the one active model."""
    conn.execute(
        text(
            "INSERT INTO embedding_models (name, dim) VALUES (:name, :dim)"
            " ON CONFLICT (name) DO NOTHING"
        ),
        {"name": name, "dim": dim},
    )
    # Two statements: the one-active unique index is checked row by row; the "at least
    # one" trigger is deferred to the commit.
    conn.execute(
        text("UPDATE embedding_models SET active = false WHERE active AND name <> :n"), {"n": name}
    )
    conn.execute(text("UPDATE embedding_models SET active = true WHERE name = :n"), {"n": name})
    conn.commit()


def embed_pending(*, conn: Connection, embedder: Embedder) -> int:
    """Embed items whose vector under the embedder's model is missing or stale; return count.

    Same text and bookkeeping as the embedding worker (pgrec_embed_text, content_hash).
    """
    model = embedder.name
    if pending_embeddings(conn=conn, model=model) == 0:
        return 0
    rows = conn.execute(
        text(
            "SELECT i.id, pgrec_embed_text(i.title, i.categories, i.tags, i.description) AS body,"
            " i.content_hash FROM items i LEFT JOIN item_embeddings e"
            " ON e.item_id = i.id AND e.model = :model"
            " WHERE e.item_id IS NULL OR e.content_hash <> i.content_hash ORDER BY i.id"
        ),
        {"model": model},
    ).all()
    start = time.perf_counter()
    upsert = text(
        "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
        " VALUES (:id, :model, CAST(:v AS vector), :h) ON CONFLICT (item_id, model) DO UPDATE"
        " SET embedding = EXCLUDED.embedding, content_hash = EXCLUDED.content_hash,"
        " embedded_at = now()"
    )
    for lo in range(0, len(rows), BATCH):
        batch = rows[lo : lo + BATCH]
        vectors = embedder.encode([r.body for r in batch])
        params = [
            {"id": r.id, "model": model, "v": vector_literal(v), "h": r.content_hash}
            for r, v in zip(batch, vectors, strict=True)
        ]
        conn.execute(upsert, params)
        conn.commit()
        done = lo + len(batch)
        if done % (BATCH * 16) == 0 or done == len(rows):
            rate = done / max(time.perf_counter() - start, 1e-9)
            log.info("embedded %d/%d items (%.0f items/s)", done, len(rows), rate)
    return len(rows)
