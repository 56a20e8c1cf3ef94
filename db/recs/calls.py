"""How the wrappers call rec.* functions: result types, vector literals, error translation."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import Connection, TextClause
from sqlalchemy.dialects.postgresql import psycopg as pg_dialect
from sqlalchemy.exc import DBAPIError

from db.recs.filters import Filters, InvalidInput


@dataclass(frozen=True)
class Hit:
    item_id: int
    score: float


@dataclass(frozen=True)
class MoreLike:
    hits: list[Hit]
    missing_ids: list[int]


def _checked(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
        raise InvalidInput("invalid q: expected a non-empty 1-d vector of finite numbers", "q")
    return v


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, '[x,y,...]'; 9 significant digits keep float32 exact."""
    return "[" + ",".join(f"{x:.9g}" for x in _checked(vector).tolist()) + "]"


@dataclass(frozen=True)
class VectorParam:
    """A query vector bound in pgvector's binary form (`CAST(:q AS vector)` in the SQL).

    The text form costs ~85 us to format per 384-d query and the server as long again to
    parse; this is 2 bytes of dimensions, 2 unused, and the big-endian float32 values, what
    pgvector's vector_recv reads (~1 us). The parameter is sent untyped, so the cast decides.
    """

    payload: bytes


def vector_param(vector: np.ndarray) -> VectorParam:
    v = _checked(vector)
    if v.size > 16000:  # pgvector's limit; the server would refuse it less clearly
        raise InvalidInput(f"invalid q: {v.size} dimensions, at most 16000", "q")
    return VectorParam(struct.pack(">HH", v.size, 0) + v.astype(">f4").tobytes())


class _VectorParamDumper(Dumper):
    format = Format.BINARY
    oid = 0  # unknown: the server infers vector from the cast

    def dump(self, obj: VectorParam) -> bytes:
        return obj.payload


# Every connection made from now on (they share psycopg's global adapters) can bind one.
psycopg.adapters.register_dumper(VectorParam, _VectorParamDumper)


def filters_json(filters: Filters) -> str:
    return json.dumps(filters.to_json())


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise the rec.* functions' bad-input errors (SQLSTATE 22023) as InvalidInput,
    whether SQLAlchemy wrapped them or they come from a plain psycopg connection."""
    try:
        yield
    except (DBAPIError, psycopg.Error) as err:
        orig = err.orig if isinstance(err, DBAPIError) else err
        if isinstance(orig, psycopg.Error) and orig.sqlstate == "22023":
            message = orig.diag.message_primary or str(orig)
            raise InvalidInput(message, orig.diag.column_name) from err
        raise


def call_hits(conn: Connection, sql: TextClause, params: Mapping[str, Any]) -> list[Hit]:
    """Run a `SELECT item_id, score FROM rec.<mode>(...)` and return its rows in order."""
    with translated_errors():
        rows = conn.execute(sql, dict(params)).all()
    return [Hit(int(row[0]), float(row[1])) for row in rows]


def psycopg_sql(sql: TextClause) -> str:
    """The same statement in psycopg's own placeholders (%(name)s), for asyncio connections."""
    return str(sql.compile(dialect=pg_dialect.dialect()))  # type: ignore[no-untyped-call]


async def call_hits_async(
    conn: psycopg.AsyncConnection[Any], sql: str, params: Mapping[str, Any]
) -> list[Hit]:
    """`call_hits` on an asyncio connection (db/async_reads.py wraps its other errors);
    `sql` from `psycopg_sql`."""
    with translated_errors():
        cur = await conn.execute(sql, dict(params))
        rows = await cur.fetchall()
    return [Hit(int(row[0]), float(row[1])) for row in rows]
