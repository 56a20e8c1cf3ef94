"""The drift figure kept with a model version: neighbour overlap@10 with the model it replaced."""

from __future__ import annotations

from sqlalchemy import Connection, text


def save_overlap(*, conn: Connection, name: str, overlap: float, against: str) -> None:
    conn.execute(
        text(
            "UPDATE embedding_models SET neighbor_overlap = :o, overlap_against = :a,"
            " overlap_checked_at = now() WHERE name = :n"
        ),
        {"o": overlap, "a": against, "n": name},
    )


def model_overlaps(*, conn: Connection) -> dict[str, tuple[float | None, str | None]]:
    """Each model's last drift check: (overlap, the model it was compared with)."""
    rows = conn.execute(
        text("SELECT name, neighbor_overlap, overlap_against FROM embedding_models")
    ).all()
    return {r.name: (r.neighbor_overlap, r.overlap_against) for r in rows}
