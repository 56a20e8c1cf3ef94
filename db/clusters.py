"""Data functions of the clusters: members' texts to label, a model's clustering replaced."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from db.neighbors import COPY_HEADER, COPY_TRAILER, driver_connection


@dataclass(frozen=True)
class ClusterInfo:
    cluster: int
    size: int
    label: str
    top_terms: list[str]


def item_texts(*, conn: Connection, ids: np.ndarray) -> list[str]:
    """Title, categories and description of each of `ids`, in that order ('' when gone)."""
    rows = conn.execute(
        text(
            "SELECT id, concat_ws(' ', title, array_to_string(categories, ' '), description)"
            " FROM items WHERE id = ANY(:ids)"
        ),
        {"ids": [int(i) for i in ids]},
    ).all()
    by_id = {int(r[0]): str(r[1]) for r in rows}
    return [by_id.get(int(i), "") for i in ids]


def _membership_copy(item_ids: np.ndarray, clusters: np.ndarray) -> bytes:
    rows = np.zeros(
        len(item_ids),
        dtype=np.dtype(
            [("n", ">i2"), ("l1", ">i4"), ("item_id", ">i8"), ("l2", ">i4"), ("cluster", ">i4")]
        ),
    )
    rows["n"], rows["l1"], rows["l2"] = 2, 8, 4
    rows["item_id"] = item_ids
    rows["cluster"] = clusters
    return COPY_HEADER + rows.tobytes() + COPY_TRAILER


def replace_clusters(
    *,
    conn: Connection,
    model: str,
    item_ids: np.ndarray,
    assignments: np.ndarray,
    clusters: Sequence[ClusterInfo],
) -> int:
    """Replace the clustering of `model`: memberships (via COPY) and clusters; returns members.

    Sizes are counted from the rows actually written, so an item deleted meanwhile does not
    leave a size that disagrees with item_clusters.
    """
    conn.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS pgrec_clusters_stage"
            " (item_id bigint, cluster integer) ON COMMIT DROP"
        )
    )
    conn.execute(text("TRUNCATE pgrec_clusters_stage"))
    with (
        driver_connection(conn).cursor() as cur,
        cur.copy("COPY pgrec_clusters_stage FROM STDIN (FORMAT binary)") as copy,
    ):
        copy.write(_membership_copy(item_ids, assignments))
    conn.execute(text("DELETE FROM item_clusters WHERE model = :m"), {"m": model})
    conn.execute(text("DELETE FROM clusters WHERE model = :m"), {"m": model})
    members = conn.execute(
        text(
            "INSERT INTO item_clusters (model, item_id, cluster)"
            " SELECT :m, s.item_id, s.cluster FROM pgrec_clusters_stage s"
            " JOIN items i ON i.id = s.item_id"
        ),
        {"m": model},
    ).rowcount
    if clusters:
        conn.execute(
            text(
                "INSERT INTO clusters (model, cluster, size, label, top_terms)"
                " VALUES (:m, :c, 0, :label, :terms)"
            ),
            [
                {"m": model, "c": c.cluster, "label": c.label, "terms": c.top_terms}
                for c in clusters
            ],
        )
    conn.execute(
        text(
            "UPDATE clusters c SET size = (SELECT count(*) FROM item_clusters ic"
            " WHERE ic.model = c.model AND ic.cluster = c.cluster) WHERE c.model = :m"
        ),
        {"m": model},
    )
    return int(members)


def list_clusters(*, conn: Connection, model: str) -> list[ClusterInfo]:
    """The clusters of `model`, largest first: what this catalog is about."""
    rows = conn.execute(
        text(
            "SELECT cluster, size, label, top_terms FROM clusters WHERE model = :m"
            " ORDER BY size DESC, cluster"
        ),
        {"m": model},
    ).all()
    return [ClusterInfo(int(r[0]), int(r[1]), str(r[2]), list(r[3])) for r in rows]
