"""The benchmark catalog: real Netflix + TMDB rows replicated to N items in a database of its own.

Vectors are the real model's vectors of the original texts (embedded once, cached under
`.pgrec/bench-cache/` keyed by the texts' hash) plus a small seeded Gaussian perturbation,
re-normalised, so replicas are near neighbours of their original without being identical.
Items are written with the ingest writer (COPY + upsert), vectors straight into
item_embeddings with a binary COPY, and the HNSW index is rebuilt afterwards and timed.
Every item gets `attributes.bucket`, a synthetic attribute with known shares, so that
`attr.bucket=b10` selects 10% of the catalog (the selectivity filters).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy import Engine

from db import migrate
from db.engine import make_engine
from db.ingest import ItemRecord, RowError, netflix, tmdb, validate_items
from db.ingest.readers import read_csv
from db.ingest.records import FieldError
from db.ingest.writer import driver_connection, write_items
from db.models import DEFAULT_DIM, DEFAULT_MODEL
from db.vector_index import create_hnsw_index, drop_hnsw_index, hnsw_index_name
from jobs.embedder import Embedder

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
NETFLIX = SHARED / "netflix_titles" / "netflix_titles.csv"
TMDB = SHARED / "tmdb_5000_movies" / "tmdb_5000_movies.csv"

# Selectivity filters: bucket value -> share of the catalog. The rest is "rest".
BUCKETS: dict[str, float] = {"b50": 0.5, "b10": 0.1, "b1": 0.01, "b0.1": 0.001}
HNSW_INDEX = hnsw_index_name(DEFAULT_MODEL)  # created by the baseline migration
NOISE = 0.3  # norm of the perturbation added to a unit vector (cosine to the original ~0.96)
CHUNK = 50_000  # items per write (keeps 1M-item builds within memory)
BUILD_SETTINGS = {"maintenance_work_mem": "1GB"}


@dataclass(frozen=True)
class Original:
    record: ItemRecord
    text: str  # what the model embeds (mirrors SQL pgrec_embed_text)


@dataclass
class Catalog:
    """A built catalog: where it lives, what it holds, and how long each step took."""

    url: str
    database: str
    size: int
    ids: np.ndarray  # item ids, row order of `vectors`
    vectors: np.ndarray | None  # normalised float32 (size, dim); None when not kept
    buckets: np.ndarray  # bucket label per row
    titles: list[str]  # a sample of titles (title-mode queries)
    timings: dict[str, float] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)

    def bucket_ids(self, bucket: str) -> np.ndarray:
        return np.asarray(self.ids[self.buckets == bucket])


def embed_text(r: ItemRecord) -> str:
    """The text the model sees: Python twin of SQL pgrec_embed_text (schema.catalog.sql)."""
    parts = [
        r.title.strip(),
        "Categories: " + ", ".join(r.categories) if r.categories else "",
        r.description.strip(),
        "Tags: " + ", ".join(r.tags) if r.tags else "",
    ]
    return "\n".join(p for p in parts if p)


def read_originals(per_source: int | None = None) -> list[Original]:
    """Valid Netflix then TMDB rows as records (invalid rows skipped, as --skip-invalid).

    `per_source` stops reading each file after that many rows (tiny runs, tests).
    """
    out: list[Original] = []
    for path, fmt in ((NETFLIX, netflix), (TMDB, tmdb)):
        mapped = []
        for n, (_, row) in enumerate(read_csv(path, required=fmt.COLUMNS)):
            if per_source is not None and n >= per_source:
                break
            if isinstance(row, RowError):
                continue
            try:
                mapped.append(fmt.map_row(row))
            except FieldError:
                continue
        records = validate_items(items=mapped, source=str(path)).records
        out.extend(Original(r, embed_text(r)) for r in records)
    unique: dict[str, Original] = {}
    for o in out:
        unique.setdefault(o.record.external_id, o)
    return list(unique.values())


def texts_key(model: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(model.encode())
    for t in texts:
        digest.update(b"\0" + t.encode())
    return digest.hexdigest()[:16]


def original_vectors(
    texts: Sequence[str], embedder: Embedder, cache_dir: Path | None, batch: int = 1024
) -> tuple[np.ndarray, bool]:
    """The embedder's vectors of the unique texts, from the .npy cache when present.

    Large calls: sentence-transformers sorts a call's texts by length, so batches are padded
    to similar lengths (64-text calls of mixed lengths were several times slower).
    """
    unique = sorted(set(texts))
    path = None
    if cache_dir is not None:
        path = cache_dir / f"vectors-{embedder.name}-{texts_key(embedder.name, unique)}.npy"
    if path is not None and path.exists():
        matrix = np.load(path)
        cached = True
    else:
        log.info("embedding %d unique texts with %s", len(unique), embedder.name)
        parts = []
        for start in range(0, len(unique), batch):
            parts.append(np.asarray(embedder.encode(unique[start : start + batch]), np.float32))
            log.info("embedded %d / %d", min(start + batch, len(unique)), len(unique))
        matrix = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, matrix)
        cached = False
    row = {t: i for i, t in enumerate(unique)}
    return matrix[[row[t] for t in texts]], cached


def perturbed(base: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
    """Unit vectors base[rows] + seeded Gaussian noise of norm ~NOISE, re-normalised."""
    rng = np.random.default_rng(seed)
    dim = base.shape[1]
    out = base[rows] + rng.standard_normal((len(rows), dim), dtype=np.float32) * (
        NOISE / np.sqrt(dim)
    )
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(out, dtype=np.float32)


def assign_buckets(size: int, seed: int) -> np.ndarray:
    """Bucket label per row: exact shares (at least one item each), seeded placement."""
    labels = np.full(size, "rest", dtype=object)
    order = np.random.default_rng(seed).permutation(size)
    start = 0
    for name, share in BUCKETS.items():
        count = max(1, round(size * share))
        labels[order[start : start + count]] = name
        start += count
    return labels


def replica(o: Original, copy: int, bucket: str) -> ItemRecord:
    ext = o.record.external_id if copy == 0 else f"{o.record.external_id}~{copy}"
    attrs = {**o.record.attributes, "bucket": bucket}
    return dataclasses.replace(o.record, external_id=ext, attributes=attrs)


def _database_url(server_url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create database `name`, migrated to head; returns its URL."""
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _database_url(server_url, name)
    migrate.upgrade(url)
    return url


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def embeddings_copy(ids: np.ndarray, vectors: np.ndarray, hashes: Sequence[str]) -> bytes:
    """COPY BINARY rows (item_id, model, embedding, content_hash), built in one numpy pass."""
    n, dim = vectors.shape
    model = DEFAULT_MODEL.encode()
    width = max(len(h) for h in hashes) if n else 32
    dtype = np.dtype(
        [
            ("nf", ">i2"),
            ("l1", ">i4"),
            ("id", ">i8"),
            ("l2", ">i4"),
            ("model", f"S{len(model)}"),
            ("l3", ">i4"),
            ("dim", ">u2"),
            ("unused", ">u2"),
            ("vec", ">f4", (dim,)),
            ("l4", ">i4"),
            ("hash", f"S{width}"),
        ]
    )
    rows = np.zeros(n, dtype=dtype)
    rows["nf"], rows["l1"], rows["id"] = 4, 8, ids
    rows["l2"], rows["model"] = len(model), model
    rows["l3"], rows["dim"], rows["vec"] = 4 + 4 * dim, dim, vectors
    rows["l4"], rows["hash"] = width, np.asarray(hashes, dtype=f"S{width}")
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    return header + rows.tobytes() + b"\xff\xff"


def _chunks(size: int) -> Iterator[range]:
    for start in range(0, size, CHUNK):
        yield range(start, min(size, start + CHUNK))


def _write_chunk(
    engine: Engine, records: list[ItemRecord], vectors: np.ndarray, timings: dict[str, float]
) -> np.ndarray:
    """Items through the ingest writer, then their vectors by binary COPY; returns their ids."""
    t = time.perf_counter()
    with engine.begin() as conn:
        write_items(conn=conn, records=records)
        found = conn.exec_driver_sql(
            "SELECT external_id, id, content_hash FROM items WHERE external_id = ANY(%s)",
            ([r.external_id for r in records],),
        ).all()
    timings["write_items_s"] += time.perf_counter() - t
    by_ext = {r[0]: (int(r[1]), str(r[2])) for r in found}
    ids = np.array([by_ext[r.external_id][0] for r in records], np.int64)
    hashes = [by_ext[r.external_id][1] for r in records]
    t = time.perf_counter()
    with engine.begin() as conn, driver_connection(conn).cursor() as cur:
        copy_sql = (
            "COPY item_embeddings (item_id, model, embedding, content_hash) "
            "FROM STDIN (FORMAT BINARY)"
        )
        with cur.copy(copy_sql) as copy:
            copy.write(embeddings_copy(ids, vectors, hashes))
    timings["copy_vectors_s"] += time.perf_counter() - t
    return ids


def _index_and_analyze(engine: Engine) -> dict[str, float]:
    """Build the HNSW index (timed), then VACUUM ANALYZE both tables."""
    timings = {}
    with engine.begin() as conn:
        for key, value in BUILD_SETTINGS.items():
            conn.exec_driver_sql(f"SET LOCAL {key} = '{value}'")
        t = time.perf_counter()
        create_hnsw_index(conn, model=DEFAULT_MODEL, dim=DEFAULT_DIM)
        timings["hnsw_build_s"] = time.perf_counter() - t
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        t = time.perf_counter()
        conn.exec_driver_sql("VACUUM ANALYZE items")
        conn.exec_driver_sql("VACUUM ANALYZE item_embeddings")
        timings["vacuum_analyze_s"] = time.perf_counter() - t
    return timings


def build(
    *,
    server_url: str,
    size: int,
    embedder: Embedder,
    seed: int = 0,
    cache_dir: Path | None = None,
    keep_vectors: bool = True,
    originals: Sequence[Original] | None = None,
    progress: Callable[[str], None] = log.info,
) -> Catalog:
    """Create database pgrec_bench_<size> and fill it: items, vectors, HNSW, users."""
    timings: dict[str, float] = {}
    originals = list(originals if originals is not None else read_originals())
    order = np.random.default_rng(seed).permutation(len(originals))
    if cache_dir is None and size < len(originals):
        # Uncached (tests, tiny runs): embed only the originals this catalog uses.
        originals = [originals[i] for i in order[:size]]
        order = np.arange(size)
    t = time.perf_counter()
    base, cached = original_vectors([o.text for o in originals], embedder, cache_dir)
    timings["embed_originals_s" if not cached else "load_cached_vectors_s"] = (
        time.perf_counter() - t
    )
    name = f"pgrec_bench_{size}"
    t = time.perf_counter()
    url = recreate_database(server_url, name)
    timings["create_and_migrate_s"] = time.perf_counter() - t
    labels = assign_buckets(size, seed)
    src = order[np.arange(size) % len(originals)]
    copies = np.arange(size) // len(originals)
    engine = make_engine(url)
    ids = np.zeros(size, dtype=np.int64)
    kept = np.zeros((size, base.shape[1]), np.float32) if keep_vectors else None
    timings["write_items_s"] = timings["copy_vectors_s"] = 0.0
    try:
        with engine.begin() as conn:
            drop_hnsw_index(conn, model=DEFAULT_MODEL)  # rebuilt (and timed) once, at the end
        for rows in _chunks(size):
            records = [replica(originals[src[i]], int(copies[i]), str(labels[i])) for i in rows]
            vectors = perturbed(base, src[rows.start : rows.stop], seed + rows.start + 1)
            ids[rows.start : rows.stop] = _write_chunk(engine, records, vectors, timings)
            if kept is not None:
                kept[rows.start : rows.stop] = vectors
            progress(f"catalog {name}: {rows.stop} / {size} items")
        timings.update(_index_and_analyze(engine))
    finally:
        engine.dispose()
    step = max(1, size // 200)
    return Catalog(
        url=url,
        database=name,
        size=size,
        ids=ids,
        vectors=kept,
        buckets=labels,
        titles=[originals[src[i]].record.title for i in range(0, size, step)],
        timings={k: round(v, 3) for k, v in timings.items()},
        sources={"originals": len(originals), "copies_max": int(copies.max()) + 1 if size else 0},
    )


def relation_sizes(url: str) -> dict[str, Any]:
    """Bytes of the items and item_embeddings tables (with indexes) and of the HNSW index."""
    with psycopg.connect(url) as c:
        row = c.execute(
            "SELECT pg_total_relation_size('items'), pg_total_relation_size('item_embeddings'),"
            " pg_relation_size('item_embeddings'), pg_relation_size(%s::regclass)",
            (HNSW_INDEX,),
        ).fetchone()
    assert row is not None
    return {
        "items_total_bytes": int(row[0]),
        "item_embeddings_total_bytes": int(row[1]),
        "item_embeddings_heap_bytes": int(row[2]),
        "hnsw_index_bytes": int(row[3]),
    }


def load_users(
    url: str, ids: np.ndarray, *, users: int = 20, per_user: int = 30, seed: int = 0
) -> list[str]:
    """Synthetic users `bench-user-<i>`: likes, views and ratings of random items (COPY)."""
    rng = np.random.default_rng(seed)
    events = ("like", "view", "rating", "click")
    names = [f"bench-user-{u}" for u in range(users)]
    lines = []
    for name in names:
        picked = rng.choice(ids, size=min(per_user, len(ids)), replace=False)
        for j, item in enumerate(picked):
            event = events[j % len(events)]
            value = f"{rng.integers(1, 6)}" if event == "rating" else "\\N"
            day = 1 + j % 28
            lines.append(f"{name}\t{int(item)}\t{event}\t{value}\t2024-01-{day:02d}T12:00:00Z\n")
    with psycopg.connect(url) as c, c.cursor() as cur:
        copy_sql = "COPY interactions (user_id, item_id, event, value, occurred_at) FROM STDIN"
        with cur.copy(copy_sql) as copy:
            copy.write("".join(lines))
    return names
