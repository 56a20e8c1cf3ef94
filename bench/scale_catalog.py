"""A synthetic catalog of any size for `pgrec bench --scale`: no model, loaded with COPY.

Vectors are clustered: sqrt(N) unit centroids with Zipf-skewed cluster sizes, each item its
centroid plus Gaussian noise, re-normalised (cosine to the centroid ~0.8). Metadata is
realistic and skewed: kind (62/30/8 %), categories drawn from the item's cluster topic and a
Zipf over 40 names (so filters correlate with the vectors, as genres do), years skewed to
recent, log-normal popularity, a language attribute (Zipf), and `attributes.bucket` with
the exact shares of bench/bench_catalog.py (the selectivity filters). Titles and
descriptions are words of data/netflix_sample.csv, topic words per cluster. Everything is
seeded by chunk: the vectors of a load chunk [a, a + CHUNK) can be regenerated on their
own (ground truth for recall) without keeping the whole matrix.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from bench.bench_catalog import assign_buckets, embeddings_copy
from db.models import DEFAULT_DIM, DEFAULT_MODEL
from db.vector_index import create_sql

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "netflix_sample.csv"
CHUNK = 50_000
NOISE = 0.75  # norm of the per-item noise around its unit centroid
KINDS = {"movie": 0.62, "show": 0.30, "short": 0.08}
CATEGORIES = 40
HNSW_WORKERS = 1  # 2 cores: the leader plus one worker
BYTES_PER_ITEM_GRAPH = 2300  # measured HNSW build memory per 384-d item, with margin
LANGS = ("en", "es", "fr", "hi", "ko", "ja", "de", "it", "pt", "tr")


def zipf_weights(n: int, s: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return np.asarray(w / w.sum())


def vocabulary() -> list[str]:
    """Lower-case words (3+ letters) of the sample's descriptions, most frequent first."""
    counts: dict[str, int] = {}
    with SAMPLE.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for word in re.findall(r"[a-z]{3,}", row["description"].lower()):
                counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: -counts[w])


@dataclass(frozen=True)
class Spec:
    """Everything about a catalog that does not depend on the row: centroids, topics, sizes."""

    size: int
    seed: int
    dim: int
    centroids: np.ndarray
    cluster_of: np.ndarray  # per row
    topics: list[list[str]]  # topic words per cluster
    words: list[str]
    category_names: list[str]
    buckets: np.ndarray = field(repr=False)

    @property
    def clusters(self) -> int:
        return len(self.centroids)


def make_spec(size: int, seed: int = 0, dim: int = DEFAULT_DIM) -> Spec:
    rng = np.random.default_rng(seed)
    k = max(8, int(np.sqrt(size)))
    centroids = rng.standard_normal((k, dim)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    cluster_of = rng.choice(k, size=size, p=zipf_weights(k, 0.8))
    words = vocabulary()
    common = words[:2000]
    topics = [list(rng.choice(common[50:], size=12, replace=False)) for _ in range(k)]
    names = [f"genre-{common[60 + 7 * i]}" for i in range(CATEGORIES)]
    return Spec(
        size=size,
        seed=seed,
        dim=dim,
        centroids=centroids,
        cluster_of=cluster_of,
        topics=topics,
        words=common,
        category_names=names,
        buckets=assign_buckets(size, seed),
    )


def vectors(spec: Spec, start: int, stop: int) -> np.ndarray:
    """Unit vectors of rows [start, stop), seeded by `start`: call it with the load's chunks."""
    rng = np.random.default_rng((spec.seed, start))
    base = spec.centroids[spec.cluster_of[start:stop]]
    noise = rng.standard_normal((stop - start, spec.dim), dtype=np.float32)
    out = base + noise * (NOISE / np.sqrt(spec.dim))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(out, dtype=np.float32)


def item_lines(spec: Spec, start: int, stop: int) -> str:
    """COPY text rows (id, external_id, title, description, kind, categories, year,
    popularity, attributes) of rows [start, stop); every draw is vectorised per chunk."""
    rng = np.random.default_rng((spec.seed, start, 1))
    n = stop - start
    kinds = rng.choice(list(KINDS), size=n, p=list(KINDS.values()))
    years = 2025 - np.minimum(rng.exponential(9.0, n).astype(int), 100)
    popularity = rng.lognormal(1.0, 1.2, n)
    topics = np.asarray(spec.topics, dtype=object)[spec.cluster_of[start:stop]]  # (n, 12)
    words = np.asarray(spec.words, dtype=object)
    own = np.take_along_axis(topics, rng.integers(0, 12, (n, 8)), axis=1)
    other = words[rng.choice(len(words), size=(n, 13), p=zipf_weights(len(words), 1.0))]
    mixed = np.concatenate([own, other], axis=1)
    lengths = 8 + rng.integers(6, 14, n)
    keys = rng.random(mixed.shape)
    keys[np.arange(21)[None, :] >= lengths[:, None]] = 2.0  # unused slots sort last
    mixed = np.take_along_axis(mixed, np.argsort(keys, axis=1), axis=1)
    title_words = np.take_along_axis(topics, rng.integers(0, 12, (n, 3)), axis=1)
    title_len = rng.integers(2, 4, n)
    cats = rng.choice(CATEGORIES, size=(n, 2), p=zipf_weights(CATEGORIES))
    langs = rng.choice(len(LANGS), size=n, p=zipf_weights(len(LANGS), 1.5))
    names = spec.category_names
    lines = []
    for j in range(n):
        row = start + j
        desc = " ".join(mixed[j, : lengths[j]])
        title = " ".join(w.capitalize() for w in title_words[j, : title_len[j]])
        own_cat = names[spec.cluster_of[row] % CATEGORIES]
        cat_list = ",".join(sorted({own_cat, names[cats[j, 0]], names[cats[j, 1]]}))
        attrs = f'{{"bucket": "{spec.buckets[row]}", "lang": "{LANGS[langs[j]]}"}}'
        lines.append(
            f"{row + 1}\tsyn-{row}\t{title} {row}\t{desc}\t{kinds[j]}\t{{{cat_list}}}\t"
            f"{years[j]}\t{popularity[j]:.3f}\t{attrs}\n"
        )
    return "".join(lines)


def _chunks(size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, size, CHUNK):
        yield start, min(size, start + CHUNK)


def load(url: str, spec: Spec, progress: object = None) -> dict[str, float]:
    """COPY items, then their vectors (binary COPY); timings of each, in seconds."""
    timings = {"copy_items_s": 0.0, "copy_vectors_s": 0.0}
    columns = "id, external_id, title, description, kind, categories, year, popularity, attributes"
    with psycopg.connect(url) as conn:
        for start, stop in _chunks(spec.size):
            text = item_lines(spec, start, stop)
            t = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY items ({columns}) FROM STDIN") as copy:
                copy.write(text)
            conn.commit()
            timings["copy_items_s"] += time.perf_counter() - t
            hashes = [
                r[0]
                for r in conn.execute(
                    "SELECT content_hash FROM items WHERE id > %s AND id <= %s ORDER BY id",
                    (start, stop),
                )
            ]
            ids = np.arange(start + 1, stop + 1, dtype=np.int64)
            payload = embeddings_copy(ids, vectors(spec, start, stop), hashes)
            t = time.perf_counter()
            copy_sql = (
                "COPY item_embeddings (item_id, model, embedding, content_hash) "
                "FROM STDIN (FORMAT BINARY)"
            )
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                copy.write(payload)
            conn.commit()
            timings["copy_vectors_s"] += time.perf_counter() - t
            if callable(progress):
                progress(f"scale catalog: {stop} / {spec.size} items")
        conn.execute("SELECT setval(pg_get_serial_sequence('items', 'id'), %s)", (spec.size,))
        conn.commit()
    return timings


def sample_titles(spec: Spec, count: int = 200) -> list[str]:
    """Titles of rows spread over the catalog (title-mode queries)."""
    step = max(1, spec.size // count)
    out = []
    for row in range(0, spec.size, step):
        text = item_lines(spec, row, min(spec.size, row + 1))
        out.append(text.split("\t")[2])
    return out[:count]


def sample_queries(spec: Spec, count: int, seed: int) -> list[str]:
    """Distinct free-text queries: 3-5 words of a cluster topic (never repeated)."""
    rng = np.random.default_rng(seed + 7)
    out: dict[str, None] = {}
    while len(out) < count:
        topic = spec.topics[int(rng.integers(spec.clusters))]
        out.setdefault(" ".join(rng.choice(topic, size=int(rng.integers(3, 6)))), None)
    return list(out)


def hnsw_settings(size: int) -> dict[str, str]:
    """maintenance_work_mem to hold the whole graph (a build that spills is many times slower),
    capped at 4 GB; one parallel maintenance worker."""
    mib = min(4096, max(64, size * BYTES_PER_ITEM_GRAPH // (1024 * 1024) + 64))
    return {
        "maintenance_work_mem": f"{mib}MB",
        "max_parallel_maintenance_workers": str(HNSW_WORKERS),
    }


def build_hnsw_index(conn: psycopg.Connection[Any], name: str, cast: str, size: int) -> float:
    """Create HNSW index `name` on the default model's `embedding::CAST(384)` (vector or
    halfvec) with the build settings for `size` items, built as deployments build it
    (PGREC_HNSW_EF_CONSTRUCTION); the seconds the build took."""
    for key, value in hnsw_settings(size).items():
        conn.execute(f"SET {key} = '{value}'")
    t = time.perf_counter()
    conn.execute(create_sql(name, model=DEFAULT_MODEL, dim=DEFAULT_DIM, storage=cast))
    return time.perf_counter() - t
