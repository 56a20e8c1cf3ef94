"""What an A/B variant changes inside Postgres: the ranking-model version the user mode uses."""

from __future__ import annotations

from sqlalchemy import Connection, text


def use_ranker(*, conn: Connection, version: str) -> None:
    """Score with ranking model `version` ('fallback' or a trained one) for the rest of the
    connection's transaction (rec.ranker() reads pgrec.ranker; an unknown version is a
    22023 error naming pgrec.ranker when the list is scored)."""
    conn.execute(text("SELECT set_config('pgrec.ranker', :v, true)"), {"v": version})
