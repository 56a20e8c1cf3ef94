"""How the wrappers call rec.* functions: result types, vector literals, error translation."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Connection, TextClause
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


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, '[x,y,...]'; 9 significant digits keep float32 exact."""
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
        raise InvalidInput("invalid q: expected a non-empty 1-d vector of finite numbers", "q")
    return "[" + ",".join(f"{x:.9g}" for x in v.tolist()) + "]"


def filters_json(filters: Filters) -> str:
    return json.dumps(filters.to_json())


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise the rec.* functions' bad-input errors (SQLSTATE 22023) as InvalidInput."""
    try:
        yield
    except DBAPIError as err:
        orig = err.orig
        if isinstance(orig, psycopg.Error) and orig.sqlstate == "22023":
            message = orig.diag.message_primary or str(orig)
            raise InvalidInput(message, orig.diag.column_name) from err
        raise


def call_hits(conn: Connection, sql: TextClause, params: Mapping[str, Any]) -> list[Hit]:
    """Run a `SELECT item_id, score FROM rec.<mode>(...)` and return its rows in order."""
    with translated_errors():
        rows = conn.execute(sql, dict(params)).all()
    return [Hit(int(row[0]), float(row[1])) for row in rows]
