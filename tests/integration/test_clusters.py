"""Clusters on a small real catalog: every item placed, sizes add up, labels read as words."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy import Connection, text

from db import clusters as cstore
from jobs.clusters import assign, default_n_clusters, refresh_clusters, top_terms
from tests.support.movies import ACTIVE, load_catalog, tmdb_movies

WORD = re.compile(r"^[^\W\d_]{3,}$")


def test_tmdb_catalog_clusters(fresh_db_url: str, shared_data: Path) -> None:
    load_catalog(fresh_db_url, tmdb_movies(shared_data, 300))
    with psycopg.connect(fresh_db_url) as c:  # a stale vector is not clustered
        stale = c.execute(
            "UPDATE items SET title = 'Retitled' WHERE id = (SELECT min(id)"
            " FROM items) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]

    run = refresh_clusters(url=fresh_db_url)
    assert run.items == 299 and run.clusters == default_n_clusters(299) == 12

    with psycopg.connect(fresh_db_url) as c:
        members: dict[int, int] = dict(
            c.execute("SELECT item_id, cluster FROM item_clusters WHERE model = %s", (ACTIVE,))
        )
        clusters = c.execute(
            "SELECT cluster, size, label, top_terms FROM clusters WHERE model = %s"
            " ORDER BY cluster",
            (ACTIVE,),
        ).fetchall()
        embedded = {
            r[0]
            for r in c.execute(
                "SELECT e.item_id FROM item_embeddings e JOIN items i"
                " ON i.id = e.item_id AND i.content_hash = e.content_hash"
            )
        }
        state = c.execute(
            "SELECT items, k, mode FROM refresh_state WHERE model = %s AND job = 'clusters'",
            (ACTIVE,),
        ).fetchone()
    assert set(members) == embedded and stale not in members
    assert [r[0] for r in clusters] == list(range(run.clusters))
    sizes = [r[1] for r in clusters]
    assert sum(sizes) == 299 and sizes == sorted(sizes, reverse=True) and min(sizes) > 0
    for cluster, size, label, terms in clusters:
        assert size == list(members.values()).count(cluster)
        parts = label.split(", ")
        assert len(parts) == 3 and parts == terms[:3], label
        assert all(WORD.match(t) for t in terms), terms
    assert state == (299, 12, "full")
    labels = " | ".join(r[2] for r in clusters)
    print(labels)  # for a human reading `pytest -s`
    # Seeded: a second run gives the same clustering; fewer clusters when asked.
    refresh_clusters(url=fresh_db_url)
    with psycopg.connect(fresh_db_url) as c:
        again: dict[int, int] = dict(c.execute("SELECT item_id, cluster FROM item_clusters"))
        assert (
            " | ".join(r[0] for r in c.execute("SELECT label FROM clusters ORDER BY cluster"))
            == labels
        )
    assert again == members
    assert refresh_clusters(url=fresh_db_url, n_clusters=4).clusters == 4


def test_labels_name_what_sets_a_cluster_apart() -> None:
    texts = [
        "space alien planet ship crew film",
        "alien planet space war film",
        "planet space alien invasion film",
        "love wedding romance paris film",
        "romance love wedding summer film",
        "wedding love romance london film",
    ]
    assignments = np.array([0, 0, 0, 1, 1, 1])
    terms = top_terms(texts, assignments)
    assert set(terms[0][:3]) == {"space", "alien", "planet"}
    assert set(terms[1][:3]) == {"love", "wedding", "romance"}
    assert "film" not in terms[0] + terms[1]  # in every item: names no theme


def test_assign_is_seeded_and_numbered_by_size() -> None:
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 16)) * 5
    x = np.concatenate(
        [c + rng.standard_normal((n, 16)) for c, n in zip(centers, (5, 30, 12), strict=True)]
    )
    a = assign(x.astype(np.float32), 3)
    assert np.array_equal(a, assign(x.astype(np.float32), 3))
    assert np.bincount(a).tolist() == [30, 12, 5]
    assert default_n_clusters(0) == 1 and default_n_clusters(40_000) == 64


def test_replace_clusters_replaces_a_models_clustering(conn: Connection) -> None:
    ids = (
        conn.execute(
            text(
                "INSERT INTO items (external_id, title) VALUES ('c:1', 'a'), ('c:2', 'b')"
                " RETURNING id"
            )
        )
        .scalars()
        .all()
    )
    for labels in ([0, 1], [0, 0]):
        infos = [cstore.ClusterInfo(c, 0, f"label {c}", [f"t{c}"]) for c in sorted(set(labels))]
        cstore.replace_clusters(
            conn=conn,
            model=ACTIVE,
            item_ids=np.array(ids),
            assignments=np.array(labels),
            clusters=infos,
        )
    listed = cstore.list_clusters(conn=conn, model=ACTIVE)
    assert listed == [cstore.ClusterInfo(0, 2, "label 0", ["t0"])]
