"""The analyst watchdog: cancel analyst statements and transactions that outlive their limits.

Postgres lets any role raise its own `statement_timeout`, so the limits migration 0006 sets
on pgrec_analyst are defaults, not bounds. `enforce_analyst_limits` calls the owner-only
`pgrec_enforce_analyst_limits()` (0006), which the API runs every few seconds: that is the
bound an analyst cannot lift.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from db.rows import dict_rows

STATEMENT_SECONDS = 30.0
IDLE_IN_TRANSACTION_SECONDS = 60.0


def enforce_analyst_limits(
    *,
    conn: Connection,
    statement_seconds: float = STATEMENT_SECONDS,
    idle_seconds: float = IDLE_IN_TRANSACTION_SECONDS,
) -> list[dict[str, Any]]:
    """Cancel/terminate analyst backends past the limits; what was done, one row per backend."""
    return dict_rows(
        conn,
        "SELECT pid, login, action, for_how_long FROM public.pgrec_enforce_analyst_limits("
        "make_interval(secs => :statement), make_interval(secs => :idle))",
        statement=statement_seconds,
        idle=idle_seconds,
    )
