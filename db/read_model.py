"""Data functions of the API's read model: one consistent read of what the hot path serves,
the rows a change notification names, a cheap fingerprint, and the change listener.

`read_catalog` must run inside one REPEATABLE READ transaction (`consistent_read`), so the
vectors, neighbour lists and item columns it returns all describe the same moment. Bulk
data moves through binary COPY decoded with numpy (see db.neighbors).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, text

from db.pgcopy import copy_out, copy_rows, driver_connection

# Triggers (migrations/versions/sql/0016/schema.notify.sql) NOTIFY this channel with the ids
# of changed items.
CHANGES_CHANNEL = "pgrec_changes"
MAX_NOTIFIED_IDS = 1000  # more in one payload is not something our triggers send

# The item columns a response or the re-ranking reads, without the heavy description and
# attributes (fetched with one query when a caller asks for them).
LIGHT_COLUMNS = (
    "external_id",
    "title",
    "kind",
    "categories",
    "tags",
    "year",
    "price",
    "available",
    "popularity",
    "created_at",
    "updated_at",
)
HEAVY_FIELDS = frozenset({"description", "attributes"})
_LIGHT_SELECT = "SELECT id, " + ", ".join(LIGHT_COLUMNS) + " FROM items"
_FINGERPRINT = text(
    "SELECT (SELECT name FROM embedding_models WHERE active) AS model,"
    " (SELECT count(*) || ':' || coalesce(sum(id), 0) || ':'"
    "   || coalesce(sum((extract(epoch FROM updated_at) * 1000000)::bigint), 0)"
    "   FROM items) AS items,"
    " (SELECT count(*) || ':' || coalesce(sum((extract(epoch FROM e.embedded_at)"
    "   * 1000000)::bigint), 0) FROM item_embeddings e JOIN embedding_models m"
    "   ON m.name = e.model AND m.active) AS vectors,"
    " (SELECT coalesce(max(s.ran_at)::text, '') FROM refresh_state s JOIN embedding_models m"
    "   ON m.name = s.model AND m.active WHERE s.job = 'neighbors') AS lists"
)
# The neighbour lists (items x k rows, 2M at 40k items) packed by Postgres into a few big
# binary strings per column, one row per 1,024 ids: a COPY of one row per pair spends ~4.5 s
# on 2M messages, this ~2 s (measured under load). All aggregates of one group see its rows
# in the same order, so the four columns stay aligned.
_PACKED_LISTS = (
    "SELECT string_agg(int8send(item_id), ''::bytea), string_agg(int2send(rank), ''::bytea),"
    " string_agg(int8send(neighbor_id), ''::bytea), string_agg(float4send(score), ''::bytea)"
    " FROM item_neighbors WHERE model = %s GROUP BY item_id >> 10"
)
_PACKED_TYPES = (">i8", ">i2", ">i8", ">f4")


@dataclass(frozen=True)
class Catalog:
    """Everything the read model holds, as read in one transaction."""

    model: str
    dim: int
    path: str | None
    fingerprint: str
    item_ids: np.ndarray  # int64, ascending: every item
    records: list[dict[str, Any]]  # light columns, in item_ids order
    vector_ids: np.ndarray  # int64, ascending: items with a vector of the active model
    vectors: np.ndarray  # float32 (len(vector_ids), dim), L2-normalised
    list_k: int  # depth of the precomputed neighbour lists (0: none)
    lists: np.ndarray  # int64 (len(item_ids), list_k): neighbour ids, -1 for a hole
    list_scores: np.ndarray  # float32, same shape
    list_fresh: np.ndarray  # bool (len(item_ids),): the list describes the current vector


@dataclass(frozen=True)
class ChangedRows:
    """Current state of some items: their light rows and active-model vectors (absent: gone)."""

    records: dict[int, dict[str, Any]]
    vectors: dict[int, np.ndarray]  # L2-normalised


@contextmanager
def consistent_read(engine: Engine) -> Iterator[Connection]:
    """A read-only REPEATABLE READ transaction: every statement sees the same snapshot."""
    with consistent_read_on(engine.connect()) as conn:
        yield conn


@contextmanager
def consistent_read_on(connection: AbstractContextManager[Connection]) -> Iterator[Connection]:
    """`consistent_read` on a connection handed out by someone else (a replica, say)."""
    with connection as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # Per transaction, not `postgresql_readonly`: resetting that session setting
            # when the connection goes back to the pool is an error on a standby.
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn


def fingerprint(*, conn: Connection) -> str:
    """A cheap summary that changes with any item, vector, list or model change."""
    row = conn.execute(_FINGERPRINT).one()
    return "|".join(str(v) for v in row)


def _light(row: Any) -> dict[str, Any]:
    record = dict(row._mapping)
    record.pop("id", None)
    if isinstance(record.get("price"), Decimal):
        record["price"] = float(record["price"])
    record["popularity"] = float(record["popularity"] or 0.0)
    return record


def _vectors(conn: Connection, model: str, dim: int, ids: Sequence[int] | None) -> np.ndarray:
    where = "" if ids is None else " AND item_id = ANY(%s)"
    params: tuple[Any, ...] = (model, dim) if ids is None else (model, dim, list(ids))
    # Unordered (`_normalised` sorts): ORDER BY made Postgres sort 60 MB of vectors at 40k.
    query = (
        "COPY (SELECT item_id, embedding FROM item_embeddings WHERE model = %s"
        " AND vector_dims(embedding) = %s" + where + ") TO STDOUT (FORMAT binary)"
    )
    layout: list[Any] = [("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i8")]
    layout += [("vec_len", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dim,))]
    return copy_rows(copy_out(conn, query, params), np.dtype(layout))


def _normalised(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids ascending and their L2-normalised vectors."""
    order = np.argsort(rows["id"], kind="stable")
    ids = rows["id"][order].astype(np.int64)
    matrix = np.ascontiguousarray(rows["v"][order], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms > 0, norms, 1.0)
    return ids, matrix


def _list_depth(conn: Connection, model: str) -> int:
    k = conn.execute(
        text("SELECT k FROM refresh_state WHERE model = :m AND job = 'neighbors'"), {"m": model}
    ).scalar_one_or_none()
    return int(k or 0)


def _lists(
    conn: Connection, model: str, item_ids: np.ndarray, k: int, rows: list[np.ndarray]
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """The lists as arrays aligned with `item_ids`, from the packed `rows` of `packed_lists`."""
    n = len(item_ids)
    lists = np.full((n, k), -1, dtype=np.int64)
    scores = np.zeros((n, k), dtype=np.float32)
    fresh = np.zeros(n, dtype=bool)
    if k == 0 or n == 0:
        return k, lists, scores, fresh
    if rows:
        owner, rank, neighbor, score = rows
        at = np.searchsorted(item_ids, owner)
        ok = (at < n) & (item_ids[np.minimum(at, n - 1)] == owner) & (rank >= 1) & (rank <= k)
        lists[at[ok], rank[ok] - 1] = neighbor[ok]
        scores[at[ok], rank[ok] - 1] = score[ok]
    # The rule of rec.similar_items: a list serves while it was computed from the item's
    # current text and vector.
    current = conn.execute(
        text(
            "SELECT e.item_id FROM item_embeddings e"
            " JOIN items i ON i.id = e.item_id AND i.content_hash = e.content_hash"
            " JOIN refresh_state s ON s.model = e.model AND s.job = 'neighbors'"
            " WHERE e.model = :m AND s.watermark > e.embedded_at"
        ),
        {"m": model},
    ).scalars()
    fresh_ids = np.fromiter(current, dtype=np.int64)
    at = np.searchsorted(item_ids, fresh_ids)
    ok = (at < n) & (item_ids[np.minimum(at, n - 1)] == fresh_ids)
    fresh[at[ok]] = True
    return k, lists, scores, fresh


def packed_lists(conn: Connection, model: str) -> list[np.ndarray]:
    """Every stored list row of `model`: item ids, ranks, neighbour ids, scores (native types)."""
    with driver_connection(conn).cursor(binary=True) as cur:
        cur.execute(_PACKED_LISTS, (model,))
        groups = cur.fetchall()
    owner, rank, neighbor, score = (
        np.frombuffer(b"".join(bytes(g[i]) for g in groups), dtype=t).astype(t[1:])
        for i, t in enumerate(_PACKED_TYPES)
    )
    return [owner, rank.astype(np.int64), neighbor, score]


# Postgres names an exported snapshot like 00000003-0000001B-1.
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")


@contextmanager
def snapshot_reader(conn: Connection) -> Iterator[Callable[[], AbstractContextManager[Connection]]]:
    """Opens more read transactions that see exactly `conn`'s snapshot (what pg_dump's
    parallel mode does), so parts of one consistent read run on several backends at once."""
    snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")

    @contextmanager
    def reader() -> Iterator[Connection]:
        with conn.engine.connect() as other:
            other = other.execution_options(isolation_level="REPEATABLE READ")
            with other.begin():
                other.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                other.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield other

    yield reader


def read_catalog(*, conn: Connection) -> Catalog:
    """The whole read model; call it inside `consistent_read` (one snapshot for all of it)."""
    model = conn.execute(
        text("SELECT name, dim, path FROM embedding_models WHERE active")
    ).one_or_none()
    if model is None:
        raise LookupError("no active embedding model")
    name, dim = str(model.name), int(model.dim)
    stamp = fingerprint(conn=conn)
    k = _list_depth(conn, name)
    packed: list[np.ndarray] = []
    if k:
        # The lists (items x k rows) cost Postgres the most: another backend (and its
        # parallel workers) aggregates them in this transaction's snapshot while this one
        # reads the items and vectors.
        with snapshot_reader(conn) as reader, ThreadPoolExecutor(1) as pool:

            def lists_part() -> list[np.ndarray]:
                with reader() as other:
                    # Enough memory that the grouping never spills to disk (~60 MB at 40k).
                    other.exec_driver_sql("SET LOCAL work_mem = '256MB'")
                    return packed_lists(other, name)

            future = pool.submit(lists_part)
            rows, vector_ids, vectors = _items_and_vectors(conn, name, dim)
            packed = future.result()
    else:
        rows, vector_ids, vectors = _items_and_vectors(conn, name, dim)
    item_ids = np.fromiter((int(r.id) for r in rows), dtype=np.int64, count=len(rows))
    k, lists, scores, fresh = _lists(conn, name, item_ids, k, packed)
    return Catalog(
        model=name,
        dim=dim,
        path=model.path,
        fingerprint=stamp,
        item_ids=item_ids,
        records=[_light(r) for r in rows],
        vector_ids=vector_ids,
        vectors=vectors,
        list_k=k,
        lists=lists,
        list_scores=scores,
        list_fresh=fresh,
    )


def _items_and_vectors(
    conn: Connection, model: str, dim: int
) -> tuple[list[Any], np.ndarray, np.ndarray]:
    rows = list(conn.execute(text(_LIGHT_SELECT + " ORDER BY id")).all())
    vector_ids, vectors = _normalised(_vectors(conn, model, dim, None))
    return rows, vector_ids, vectors


def changed_rows(*, conn: Connection, model: str, dim: int, ids: Sequence[int]) -> ChangedRows:
    """The current rows and vectors of `ids` (read again: a notification only names them)."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return ChangedRows({}, {})
    rows = conn.execute(
        text(_LIGHT_SELECT + " WHERE id = ANY(CAST(:ids AS bigint[]))"), {"ids": wanted}
    ).all()
    vector_ids, vectors = _normalised(_vectors(conn, model, dim, wanted))
    return ChangedRows(
        records={int(r.id): _light(r) for r in rows},
        vectors={int(i): vectors[n] for n, i in enumerate(vector_ids.tolist())},
    )


def heavy_fields(*, conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """description and attributes of some items (what the read model leaves out)."""
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT id, description, attributes FROM items WHERE id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": [int(i) for i in ids]},
    ).all()
    return {int(r.id): {"description": r.description, "attributes": r.attributes} for r in rows}


def parse_change(payload: str) -> list[int] | None:
    """The item ids a notification names, or None when it asks for a full reload.

    Anyone allowed to connect may NOTIFY this channel: the payload is only ever a list of ids
    to read again (bounded), never data; anything else counts as "reload everything", which
    the caller rate-limits.
    """
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or len(ids) > MAX_NOTIFIED_IDS:
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids):
        return None
    return ids


async def ping(aconn: psycopg.AsyncConnection[Any]) -> None:
    """A round trip on the listener: proves the connection alive while nothing is notified."""
    await aconn.execute("SELECT 1")


async def open_change_listener(*, url: str, timeout: int) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection LISTENing on the change channel; read it with `.notifies()`."""
    aconn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=timeout)
    try:
        await aconn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANGES_CHANNEL)))
    except BaseException:
        await aconn.close()
        raise
    return aconn
