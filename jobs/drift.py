"""The model-switch drift check: how far item-to-item neighbour lists move between two models.

Before a new embedding model becomes active, a seeded sample of items gets its top-k
neighbours (exact cosine, in numpy) under the active model and under the new one; the mean
share of neighbours kept is overlap@k. A switch that rewrites most lists is refused unless
forced, and the items whose lists moved most are named, with titles, to look at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

import db.recs as recs
from db.embeddings import active_model, get_model
from db.vectors import load_serving_vectors

K = 10
SAMPLE = 200
SEED = 17
MIN_OVERLAP = 0.5
MOVERS = 5


class DriftTooHigh(ValueError):
    """The new model's neighbour lists differ too much from the active model's."""

    def __init__(self, drift: Drift, threshold: float) -> None:
        super().__init__(
            f"neighbour overlap@{drift.k} between {drift.old} and {drift.new} is "
            f"{drift.overlap:.2f}, below {threshold:.2f}: use --force to switch anyway"
        )
        self.drift = drift


@dataclass(frozen=True)
class Mover:
    item_id: int
    title: str
    overlap: float
    old: tuple[str, ...]  # neighbour titles under the active model (first few)
    new: tuple[str, ...]


@dataclass(frozen=True)
class Drift:
    old: str
    new: str
    k: int
    sample: int
    overlap: float
    movers: tuple[Mover, ...]


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms == 0, 1, norms)).astype(np.float32)


def top_k(vectors: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Top-k neighbour row numbers (self excluded) for each of `rows`, best first."""
    unit = _unit(vectors)
    sims = unit[rows] @ unit.T
    sims[np.arange(len(rows)), rows] = -np.inf
    part = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.take_along_axis(sims, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def overlaps(
    old: np.ndarray, new: np.ndarray, *, sample: int, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sampled rows, overlap@k per row, old and new neighbour rows) for aligned matrices."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(old), size=min(sample, len(old)), replace=False))
    before, after = top_k(old, rows, k), top_k(new, rows, k)
    shared = np.array([len(set(a) & set(b)) / k for a, b in zip(before, after, strict=True)])
    return rows, shared, before, after


def check_drift(
    engine: Engine, *, new: str, sample: int = SAMPLE, k: int = K, seed: int = SEED
) -> Drift | None:
    """Overlap@k between the active model and `new` over items both embed; None when there
    is nothing to compare (the same model, or too few items with both vectors)."""
    with engine.connect() as conn:
        active = active_model(conn)
        if active.name == new:
            return None
        target = get_model(conn, name=new)
        a = load_serving_vectors(conn=conn, model=active.name, dim=active.dim)
        b = load_serving_vectors(conn=conn, model=new, dim=target.dim)
        common, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=True, return_indices=True)
        if len(common) <= k:
            return None
        rows, shared, before, after = overlaps(
            a.vectors[ia], b.vectors[ib], sample=sample, k=k, seed=seed
        )
        worst = np.argsort(shared, kind="stable")[:MOVERS]
        wanted = {int(common[rows[i]]) for i in worst}
        for i in worst:
            wanted |= {int(common[j]) for j in (*before[i][:3], *after[i][:3])}
        rows_by_id = recs.fetch_items(conn=conn, ids=list(wanted))
        titles = {i: str(r["title"]) for i, r in rows_by_id.items()}
    movers = tuple(
        Mover(
            item_id=int(common[rows[i]]),
            title=titles.get(int(common[rows[i]]), "?"),
            overlap=float(shared[i]),
            old=tuple(titles.get(int(common[j]), "?") for j in before[i][:3]),
            new=tuple(titles.get(int(common[j]), "?") for j in after[i][:3]),
        )
        for i in worst
    )
    return Drift(
        old=active.name, new=new, k=k, sample=len(rows), overlap=float(shared.mean()), movers=movers
    )
