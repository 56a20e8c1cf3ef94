"""A small synthetic read-model catalog (random unit vectors, optional exact neighbour lists)
for the unit tests of the read model, its view and its search cache."""

from __future__ import annotations

import datetime as dt

import numpy as np

from db.read_model import Catalog

STAMP = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def catalog(n: int = 50, dim: int = 16, seed: int = 0, list_k: int = 0) -> Catalog:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(100, 100 + n, dtype=np.int64)
    records = [
        {"external_id": f"x:{i}", "title": f"T{i}", "available": i % 2 == 0, "created_at": STAMP}
        for i in ids.tolist()
    ]
    lists = np.full((n, list_k), -1, dtype=np.int64)
    scores = np.zeros((n, list_k), dtype=np.float32)
    if list_k:
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        order = np.argsort(-sims, axis=1)[:, :list_k]
        lists = ids[order]
        scores = np.take_along_axis(sims, order, axis=1).astype(np.float32)
    return Catalog(
        model="m",
        dim=dim,
        path=None,
        fingerprint=f"fp{seed}",
        item_ids=ids,
        records=records,
        vector_ids=ids,
        vectors=vectors,
        list_k=list_k,
        lists=lists,
        list_scores=scores,
        list_fresh=np.ones(n, dtype=bool),
    )
