"""In-process baselines the eval runs beside pgrec: TF-IDF term search and item-kNN.

- TF-IDF: scikit-learn `TfidfVectorizer(stop_words="english")` over title + description,
  queries ranked by cosine (the classic design's term mode); the bar for `mode=terms`.
- item-kNN: cosine between items' liked-by-user vectors from the training ratings, a user's
  candidates scored by the summed similarity to their liked items; the bar for the user mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import Connection, text

from bench.eval_protocol import LIKE, Case
from db.recs import Hit


class TfidfSearch:
    """Cosine of TF-IDF vectors (English stop words dropped) over title + description."""

    def __init__(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vectorizer = TfidfVectorizer(stop_words="english")
        self.matrix = self.vectorizer.fit_transform(texts)  # rows are L2-normalised

    @classmethod
    def from_db(cls, conn: Connection) -> TfidfSearch:
        rows = conn.execute(
            text("SELECT id, title, coalesce(description, '') AS d FROM items ORDER BY id")
        ).all()
        return cls([int(r.id) for r in rows], [f"{r.title} {r.d}" for r in rows])

    def search(self, query: str, k: int) -> list[int]:
        """The k best items with a positive cosine, best first (ties by id)."""
        q = self.vectorizer.transform([query])
        sims = np.asarray((self.matrix @ q.T).todense()).ravel()
        order = np.lexsort((self.ids, -sims))
        return [int(self.ids[i]) for i in order[:k] if sims[i] > 0]


class ItemKnn:
    """Item-based collaborative filtering: cosine between the items' binary liked-by vectors."""

    def __init__(self, likes: Mapping[str, Sequence[int]], catalog: Sequence[int]) -> None:
        self.items = np.asarray(sorted(catalog), dtype=np.int64)
        self.col = {int(i): n for n, i in enumerate(self.items)}
        users = sorted(likes)
        rows, cols = [], []
        for u, user in enumerate(users):
            for item in set(likes[user]):
                if item in self.col:
                    rows.append(u)
                    cols.append(self.col[item])
        m = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(users), len(self.items)),
        )
        norms = np.sqrt(np.asarray(m.sum(axis=0)).ravel())
        scale = sparse.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0))
        unit = (m @ scale).tocsc()
        self.sim = (unit.T @ unit).tocsr()  # item x item cosine
        self.sim.setdiag(0.0)
        self.sim.eliminate_zeros()

    @classmethod
    def from_db(cls, conn: Connection, *, like: float = LIKE) -> ItemKnn:
        rows = conn.execute(
            text("SELECT user_id, item_id FROM interactions WHERE value >= :like"), {"like": like}
        ).all()
        likes: dict[str, list[int]] = {}
        for r in rows:
            likes.setdefault(str(r.user_id), []).append(int(r.item_id))
        catalog = [int(i) for i in conn.execute(text("SELECT id FROM items")).scalars()]
        return cls(likes, catalog)

    def recommend(self, case: Case, k: int) -> list[Hit]:
        """Summed cosine to the user's training likes; training items left out."""
        cols = [self.col[i] for i in case.train_likes if i in self.col]
        if not cols:
            return []
        scores = np.asarray(self.sim[cols].sum(axis=0)).ravel()
        for item in case.train_seen:
            if item in self.col:
                scores[self.col[item]] = 0.0
        order = np.lexsort((self.items, -scores))
        return [Hit(int(self.items[i]), float(scores[i])) for i in order[:k] if scores[i] > 0]
