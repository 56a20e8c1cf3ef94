"""Binary COPY helpers: framing, row layouts, rows in and out in the caller's transaction."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from sqlalchemy import Connection

# Bulk data moves through binary COPY read and built with numpy: 40k x 384 vectors load in
# ~1 s that way, against ~2 s with pgvector's per-row binary loader and ~12 s as text
# (measured on a loaded 2-CPU box).
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
# Binary COPY timestamps count microseconds from 2000-01-01 UTC.
PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")
CHUNK = 1 << 20


def driver_connection(conn: Connection) -> Any:
    """The psycopg connection under `conn`, for COPY (same transaction)."""
    return conn.connection.driver_connection


def row_layout(fields: list[tuple[str, str]]) -> np.dtype[Any]:
    """Binary COPY layout of a row: a field count, then each field's byte length and value."""
    layout: list[tuple[str, str]] = [("nfields", ">i2")]
    for name, numpy_type in fields:
        layout += [(f"{name}_len", ">i4"), (name, numpy_type)]
    return np.dtype(layout)


def copy_out(conn: Connection, sql: str, params: tuple[Any, ...]) -> bytes:
    buf = bytearray()
    with driver_connection(conn).cursor() as cur, cur.copy(sql, params) as copy:
        for chunk in copy:
            buf += chunk
    return bytes(buf)


def copy_rows(data: bytes, dtype: np.dtype[Any]) -> np.ndarray:
    """Rows of a binary COPY whose rows all have the fixed layout `dtype`."""
    if not data.startswith(COPY_HEADER) or not data.endswith(COPY_TRAILER):
        raise ValueError("unexpected binary COPY framing")
    body = data[len(COPY_HEADER) : -len(COPY_TRAILER)]
    if len(body) % dtype.itemsize:
        raise ValueError("rows of unequal size: are all vectors of this model the same dimension?")
    return np.frombuffer(body, dtype=dtype)


def copy_in(conn: Connection, sql: str, rows: np.ndarray) -> None:
    """COPY `rows` (a structured array in binary COPY layout) with `sql` ... FROM STDIN."""
    data = COPY_HEADER + rows.tobytes() + COPY_TRAILER
    with driver_connection(conn).cursor() as cur, cur.copy(sql) as copy:
        for start in range(0, len(data), CHUNK):
            copy.write(data[start : start + CHUNK])
