"""User-protocol pieces added for issue 12: blended more-like-these, item-kNN, validation tuning.

More-like-these seeds from a user's training likes (the held-out item is not among them)
and fuses the vector centroid's list (rec.more_like) with "people who liked these also
liked" (rec.also_liked) by api.fusion's weighted RRF. Its weight and RRF constant are chosen
on the validation users (each user's second-to-last liked item held out, co-occurrence
recomputed without it), then the test users are scored with that choice.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from api import fusion
from bench import eval_metrics as m
from bench.eval_baselines import ItemKnn
from bench.eval_protocol import Case
from bench.eval_systems import DEPTH, Source, db_call
from db import recs
from db.recs import Filters, Hit

ALSO_LIKED_GRID = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
K_GRID = (10, 30, 60)
RECENT_GRID = (None, 20)  # seed from every training like, or from the 20 most recent


def _exclude(case: Case) -> Filters:
    return Filters(exclude_ids=tuple(sorted(case.train_seen)))


def _seeds(case: Case, recent: int | None) -> list[int]:
    likes = list(case.train_likes)
    return likes if recent is None else likes[-recent:]


class MoreLikeLists:
    """The two lists of more-like-these per (user, seed size), each DEPTH long, fetched once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cache: dict[tuple[str, int | None], tuple[list[Hit], list[Hit]]] = {}

    def of(self, case: Case, recent: int | None) -> tuple[list[Hit], list[Hit]]:
        key = (case.user, recent)
        if key not in self.cache:
            seeds = _seeds(case, recent)
            vector = db_call(
                self.conn,
                "more_like",
                lambda: (
                    recs.more_like(
                        conn=self.conn,
                        positive=seeds,
                        negative=[],
                        weights=None,
                        k=DEPTH,
                        filters=_exclude(case),
                    ).hits
                ),
            )
            also = db_call(
                self.conn,
                "also_liked",
                lambda: recs.also_liked(
                    conn=self.conn, items=seeds, k=DEPTH, filters=_exclude(case)
                ),
            )
            self.cache[key] = (vector, also)
        return self.cache[key]


def blend(lists: tuple[list[Hit], list[Hit]], *, k: int, also_liked: float) -> list[Hit]:
    vector, also = lists
    fused = fusion.rrf(
        {"vector": vector, "also_liked": also},
        k=k,
        weights={"vector": 1.0, "also_liked": also_liked},
    )
    return [Hit(f.item_id, f.score) for f in fused]


def tune_more_like(conn: Connection, cases: Sequence[Case]) -> dict[str, Any]:
    """Grid over (seed size, RRF k, also-liked weight) by nDCG@10 on the validation cases."""
    lists = MoreLikeLists(conn)
    table: list[dict[str, Any]] = []
    for recent, k, w in itertools.product(RECENT_GRID, K_GRID, ALSO_LIKED_GRID):
        gains = [
            m.ndcg_single(
                [h.item_id for h in blend(lists.of(c, recent), k=k, also_liked=w)], c.held_out
            )
            for c in cases
        ]
        table.append({"recent": recent, "k": k, "also_liked": w, "ndcg": m.mean(gains) or 0.0})
    best = max(table, key=lambda r: float(r["ndcg"]))
    return {
        "chosen": {"recent": best["recent"], "k": best["k"], "also_liked": best["also_liked"]},
        "objective": "mean nDCG@10 on the validation users",
        "validation_users": len(cases),
        "grid": table,
    }


def more_like_blend(conn: Connection, chosen: Mapping[str, Any]) -> Source:
    """More-like-these as tuned on validation: centroid + also-liked by weighted RRF."""
    lists = MoreLikeLists(conn)

    def source(case: Case) -> list[Hit]:
        both = lists.of(case, chosen["recent"])
        return blend(both, k=int(chosen["k"]), also_liked=float(chosen["also_liked"]))[:DEPTH]

    return source


def item_knn(knn: ItemKnn) -> Source:
    """The item-kNN baseline (cosine over liked-by vectors of the training ratings)."""

    def source(case: Case) -> list[Hit]:
        return knn.recommend(case, DEPTH)

    return source
