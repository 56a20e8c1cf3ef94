"""One read whose rows go out as plain dicts (the console, /status and the CLI print them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def dict_rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Run `sql` with its bound `params`; each row as {column: value}, in the query's order."""
    return [dict(r._mapping) for r in conn.execute(text(sql), params)]
