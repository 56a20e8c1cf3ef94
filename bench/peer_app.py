"""The classic design pgrec replaces, done competently: FastAPI + FAISS Flat per request, no DB.

The benchmark's peer (issue 11 point 7). It reads the catalog's ids and vectors from one
`.npz` file that `bench/bench_peer.py` exported from the bench database (the same vectors
pgrec serves), builds a FAISS `IndexFlatIP` and searches it on every request with ONE
OpenMP thread, served by uvicorn. No database, no cache, no precomputed neighbour lists:

- `GET /items/{id}/similar?n=10`: the item's vector searched in the index, itself left out;
- `GET /recommendations?q=TEXT&n=10`: the text encoded with the same model (or the
  FakeEmbedder when `PGREC_PEER_EMBEDDER=fake`), then searched; absent with `none`;
- `GET /health`: 200 once the index is built.

Run: `PGREC_PEER_VECTORS=catalog.npz uvicorn bench.peer_app:create_app --factory`.
Answers carry ids and scores only (the peer has no titles to hydrate from).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from fastapi import FastAPI, HTTPException, Query

MAX_N = 100


class PeerIndex:
    """The catalog in a flat inner-product index, with the row of every item id."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.row = {int(i): r for r, i in enumerate(self.ids)}
        self.index = faiss.IndexFlatIP(self.vectors.shape[1])
        self.index.add(self.vectors)

    @classmethod
    def load(cls, path: Path) -> PeerIndex:
        with np.load(path) as data:
            return cls(data["ids"], data["vectors"])

    def search(self, query: np.ndarray, n: int, exclude: int | None = None) -> list[dict[str, Any]]:
        """Top n by inner product (cosine on normalised rows), `exclude` left out."""
        k = min(n + (exclude is not None), len(self.ids))
        scores, rows = self.index.search(query.reshape(1, -1).astype(np.float32), k)
        out = []
        for score, r in zip(scores[0], rows[0], strict=True):
            if r < 0:
                continue
            item = int(self.ids[r])
            if item != exclude:
                out.append({"id": item, "score": float(score)})
        return out[:n]


def _embedder(kind: str, dim: int) -> Any:
    """The query encoder: the real model, the FakeEmbedder, or none (no text endpoint)."""
    if kind == "none":
        return None
    from jobs.embedder import FakeEmbedder, load_embedder

    if kind == "fake":
        return FakeEmbedder(dim=dim, name="all-MiniLM-L6-v2")
    return load_embedder()


def create_app() -> FastAPI:
    """uvicorn factory; PGREC_PEER_VECTORS names the .npz (ids, vectors)."""
    # One OpenMP thread per search, as a per-request service would be configured.
    faiss.omp_set_num_threads(1)
    index = PeerIndex.load(Path(os.environ["PGREC_PEER_VECTORS"]))
    encoder = _embedder(os.environ.get("PGREC_PEER_EMBEDDER", "none"), index.vectors.shape[1])
    app = FastAPI(title="classic-design peer", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "items": len(index.ids)}

    @app.get("/items/{item_id}/similar")
    def similar(item_id: int, n: int = Query(10, ge=1, le=MAX_N)) -> dict[str, Any]:
        row = index.row.get(item_id)
        if row is None:
            raise HTTPException(404, f"item {item_id} not found")
        results = index.search(index.vectors[row], n, exclude=item_id)
        return {
            "mode": "similar",
            "backend": "faiss-flat",
            "count": len(results),
            "results": results,
        }

    @app.get("/recommendations")
    def recommendations(
        q: str = Query(..., min_length=1, max_length=1000),
        n: int = Query(10, ge=1, le=MAX_N),
    ) -> dict[str, Any]:
        if encoder is None:
            raise HTTPException(404, "no query encoder in this peer (PGREC_PEER_EMBEDDER=none)")
        vector = np.asarray(encoder.encode([q]), dtype=np.float32)[0]
        norm = float(np.linalg.norm(vector))
        results = index.search(vector / norm if norm > 0 else vector, n)
        return {
            "mode": "semantic",
            "backend": "faiss-flat",
            "count": len(results),
            "results": results,
        }

    return app
