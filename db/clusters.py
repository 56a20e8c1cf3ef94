"""Data functions of the clusters: a model's clustering replaced and listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from db.pgcopy import copy_in, row_layout


@dataclass(frozen=True)
class ClusterInfo:
    cluster: int
    size: int
    label: str
    top_terms: list[str]


MEMBERSHIP_DTYPE = row_layout([("item_id", ">i8"), ("cluster", ">i4")])


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
    rows = np.zeros(len(item_ids), dtype=MEMBERSHIP_DTYPE)
    rows["nfields"], rows["item_id_len"], rows["cluster_len"] = 2, 8, 4
    rows["item_id"], rows["cluster"] = item_ids, assignments
    copy_in(conn, "COPY pgrec_clusters_stage FROM STDIN (FORMAT binary)", rows)
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
