"""A real catalog for the retrieval tests: TMDB 5000 and the Netflix sample, with fake vectors.

The `catalog_url` fixture (one migrated database per test session, shared by test_recs.py
and test_analyst.py through tests/conftest.py) and predicates that check a row against a
filter. Items are inserted with SQL (not the ingest) so these tests only depend on the
schema; vectors come from FakeEmbedder, written straight to the table; neighbour lists from
the refresh job.
"""

from __future__ import annotations

import csv
import json
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from db.recs import Filters
from db.vector_index import create_sql
from jobs.embedder import FakeEmbedder
from jobs.neighbors import refresh_neighbors
from tests.support.databases import ROOT, clone_database, drop_database

MODEL = "all-MiniLM-L6-v2"
NEIGHBORS_K = 10
# The migrations' index (schema.catalog.sql), recreated after the bulk load as a deployment
# builds it (db/vector_index.py: PGREC_HNSW_EF_CONSTRUCTION), with the storage the template
# records (vector).
HNSW_INDEX = "ix_item_embeddings_hnsw_all_minilm_l6_v2"


def hnsw_index_sql() -> str:
    return create_sql(HNSW_INDEX, model=MODEL, dim=384, storage="vector")


def clone_template(server_url: str, template_url: str) -> str:
    """A private copy of the migrated template; retried while autovacuum still holds it."""
    for attempt in range(5):
        try:
            return clone_database(server_url, template_url)
        except psycopg.errors.ObjectInUse:
            time.sleep(1 + attempt)
    return clone_database(server_url, template_url)


def copy_binary(rows: list[Any], vectors: np.ndarray) -> bytes:
    """Binary COPY data of (id, model, vector, content_hash) rows; rows are (id, _, hash)."""
    out = [b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)]
    model = MODEL.encode()
    dim = vectors.shape[1]
    for row, vec in zip(rows, vectors.astype(">f4"), strict=True):
        digest = row[2].encode()
        out.append(struct.pack(">hiq", 4, 8, row[0]))
        out.append(struct.pack(">i", len(model)) + model)
        out.append(struct.pack(">ihh", 4 + 4 * dim, dim, 0) + vec.tobytes())
        out.append(struct.pack(">i", len(digest)) + digest)
    out.append(struct.pack(">h", -1))
    return b"".join(out)


def write_embeddings(
    c: psycopg.Connection[Any], rows: list[Any], vectors: np.ndarray, *, work_mem: str
) -> None:
    """COPY the vectors in, then build the HNSW index once (its index must be dropped)."""
    with c.cursor().copy(
        "COPY item_embeddings (item_id, model, embedding, content_hash) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.write(copy_binary(rows, vectors))
    c.execute(f"SET maintenance_work_mem = '{work_mem}'")
    c.execute(hnsw_index_sql())


def load_vector_catalog(
    url: str, columns: str, items: Iterable[Sequence[Any]], vectors: np.ndarray, *, work_mem: str
) -> None:
    """COPY `items` (the `columns` of `items`, in id order) and their vectors into a fresh
    clone, rebuild migration 0001's HNSW index once, then VACUUM ANALYZE both tables."""
    with psycopg.connect(url) as c:
        c.execute(f"DROP INDEX {HNSW_INDEX}")
        with c.cursor().copy(f"COPY items ({columns}) FROM STDIN") as copy:
            for row in items:
                copy.write_row(row)
        rows = c.execute("SELECT id, NULL, content_hash FROM items ORDER BY id").fetchall()
        write_embeddings(c, rows, vectors, work_mem=work_mem)
        c.commit()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("VACUUM ANALYZE items")
        c.execute("VACUUM ANALYZE item_embeddings")


def _tmdb_rows(path: Path) -> list[tuple[Any, ...]]:
    csv.field_size_limit(1 << 26)
    rows: list[tuple[Any, ...]] = []
    with path.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            tmdb_id = int(r["id"])
            countries = [c["name"] for c in json.loads(r["production_countries"] or "[]")]
            attrs: dict[str, Any] = {"language": r["original_language"]}
            if countries:
                attrs["country"] = countries[0]  # a scalar attribute, unlike Netflix's lists
            rows.append(
                (
                    f"tmdb:{tmdb_id}",
                    r["title"],
                    r["overview"],
                    "movie",
                    [g["name"] for g in json.loads(r["genres"] or "[]")],
                    [k["name"] for k in json.loads(r["keywords"] or "[]")],
                    int(r["release_date"][:4]) if r["release_date"] else None,
                    Decimal(tmdb_id % 2000) / 100,
                    tmdb_id % 7 != 0,
                    json.dumps(attrs),
                    float(r["popularity"] or 0),
                )
            )
    return rows


def _netflix_rows(path: Path) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    with path.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            countries = [c.strip() for c in r["country"].split(",") if c.strip()]
            rows.append(
                (
                    f"netflix:{r['show_id']}",
                    r["title"].strip() or r["show_id"],
                    r["description"],
                    r["type"].lower(),
                    [c.strip() for c in r["listed_in"].split(",") if c.strip()],
                    [],
                    int(r["release_year"]) if r["release_year"] else None,
                    None,
                    True,
                    json.dumps({"country": countries, "rating": r["rating"]}),
                    0.0,
                )
            )
    return rows


def build_catalog(url: str, shared_data: Path) -> None:
    """Items, FakeEmbedder vectors, interactions and the stored neighbour lists."""
    rows = _tmdb_rows(shared_data / "tmdb_5000_movies" / "tmdb_5000_movies.csv")
    rows += _netflix_rows(ROOT / "data" / "netflix_sample.csv")
    with psycopg.connect(url) as c:
        columns = (
            "external_id, title, description, kind, categories, tags, year, price, available, "
            "attributes, popularity"
        )
        with c.cursor().copy(f"COPY items ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        found = c.execute(
            "SELECT id, pgrec_embed_text(title, categories, tags, description), content_hash "
            "FROM items ORDER BY id"
        ).fetchall()
        ids = np.array([r[0] for r in found], dtype=np.int64)
        vectors = FakeEmbedder().encode([r[1] for r in found])
        # Building the HNSW index once is much faster than inserting into it row by row.
        c.execute(f"DROP INDEX {HNSW_INDEX}")
        write_embeddings(c, found, vectors, work_mem="256MB")
        _interactions(c, ids)
        c.commit()
    # Neighbour lists from the refresh job itself, after the vectors (its watermark).
    refresh_neighbors(url=url, k=NEIGHBORS_K)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("ANALYZE")


def _interactions(c: psycopg.Connection[Any], ids: np.ndarray) -> None:
    """u_scifi likes science fiction; u_hater only rated things badly; u_mixed has both."""
    scifi = [
        r[0]
        for r in c.execute(
            "SELECT id FROM items WHERE categories @> '{Science Fiction}' ORDER BY id LIMIT 12"
        )
    ]
    events: list[tuple[str, int, str, float | None, str]] = [
        ("u_scifi", i, "like", None, f"{d} days") for d, i in enumerate(scifi[:6])
    ]
    events += [("u_scifi", i, "view", None, "200 days") for i in scifi[6:9]]
    events += [("u_scifi", scifi[9], "purchase", None, "1 day")]
    events += [("u_hater", i, "rating", 1.0, "3 days") for i in ids[:3].tolist()]
    events += [("u_mixed", scifi[10], "rating", 5.0, "1 day")]
    events += [("u_mixed", scifi[11], "rating", 0.5, "2 days")]
    events += [("u_mixed", int(ids[-1]), "click", None, "400 days")]
    for user, item, event, value, ago in events:
        c.execute(
            "INSERT INTO interactions (user_id, item_id, event, value, occurred_at) "
            "VALUES (%s, %s, %s, %s, now() - %s::interval)",
            (user, item, event, value, ago),
        )


@pytest.fixture(scope="session")
def catalog_url(server_url: str, template_url: str, shared_data: Path) -> Iterator[str]:
    url = clone_template(server_url, template_url)
    try:
        build_catalog(url, shared_data)
        yield url
    finally:
        drop_database(server_url, url)


def matches(row: dict[str, Any], f: Filters) -> bool:
    """Whether an item row (as fetch_items returns it) satisfies the filters, in Python."""
    cats, tags = set(row["categories"]), set(row["tags"])
    checks = [
        not f.categories
        or (
            set(f.categories) <= cats
            if f.categories_mode == "all"
            else bool(cats & set(f.categories))
        ),
        not f.tags or bool(tags & set(f.tags)),
        not f.kinds or row["kind"] in f.kinds,
        f.year_min is None or (row["year"] is not None and row["year"] >= f.year_min),
        f.year_max is None or (row["year"] is not None and row["year"] <= f.year_max),
        f.price_min is None or (row["price"] is not None and row["price"] >= f.price_min),
        f.price_max is None or (row["price"] is not None and row["price"] <= f.price_max),
        f.available is None or row["available"] == f.available,
        row["id"] not in f.exclude_ids,
    ]
    for key, want in f.attributes.items():
        have = row["attributes"].get(key)
        checks.append(have == want or (isinstance(have, list) and want in have))
    return all(checks)
