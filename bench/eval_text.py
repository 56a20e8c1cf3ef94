"""The judged-query half of `pgrec eval`: tune on the tuning half, report the report half.

Modes: semantic (rec.semantic on the query's vector), terms (rec.search_terms), title
(rec.search_title), hybrid as GET /recommendations fuses them (api.fusion.hybrid: weighted
RRF of semantic, terms and title when it matched, each list as long as the answer) and the
TF-IDF baseline (bench/eval_baselines.py). Terms' field weights, k1 and b (session settings
pgrec.terms_*) and the hybrid's weights and RRF constant are chosen on the tuning half by
P@10 + nDCG@10; every figure in the report table comes from the report half.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from api import fusion
from bench import eval_metrics as m
from bench import eval_queries as jq
from bench.eval_baselines import TfidfSearch
from bench.eval_splits import QuerySplit
from bench.eval_systems import ModeUnavailable, db_call
from db import recs
from db.recs import Filters, Hit
from db.vectors import load_serving_vectors
from jobs.embedder import Embedder

# title > categories/tags > description (1), as the fields' weights must stay ordered.
TERMS_GRID: dict[str, tuple[float, ...]] = {
    "terms_title": (2.0, 3.0, 5.0),
    "terms_tags": (1.5, 2.0, 3.0),
    "terms_k1": (0.6, 1.2, 2.0),
    "terms_b": (0.0, 0.3, 0.75),
}
HYBRID_DEPTH_GRID = (10, 30)
HYBRID_K_GRID = (5, 20, 60)
HYBRID_TERMS_GRID = (0.5, 1.0, 1.5, 2.0, 3.0)
HYBRID_TITLE_GRID = (0.0, 0.25, 0.5, 1.0)
# Pseudo-relevance feedback on the best first pass (api.fusion.feedback).
FEEDBACK_GRID: dict[str, tuple[float, ...]] = {
    "seeds": (5, 10),
    "beta": (1.0, 2.0, 4.0),
    "depth": (10, 20, 30),
    "alpha": (0.4, 0.5, 0.6, 0.7, 0.8),
}

Lists = Callable[[jq.JudgedQuery], Sequence[int]]


@dataclass(frozen=True)
class Graded:
    query: jq.JudgedQuery
    grades: Mapping[int, float]


def graded(queries: Iterable[jq.JudgedQuery], labels: Mapping[int, jq.Labels]) -> list[Graded]:
    """The queries with at least one relevant item, with their grades (computed once)."""
    out = [Graded(q, jq.judge(q, labels)) for q in queries]
    return [g for g in out if g.grades]


def objective(mode: Lists, queries: Sequence[Graded]) -> tuple[float, float]:
    """Mean P@10 and nDCG@10 of `mode` over `queries`."""
    tops = [(list(mode(g.query))[: m.K], g) for g in queries]
    p = m.mean(m.precision(top, set(g.grades)) for top, g in tops) or 0.0
    n = m.mean(m.ndcg_graded(top, g.grades) for top, g in tops) or 0.0
    return p, n


def _terms_grid() -> list[dict[str, float]]:
    keys = list(TERMS_GRID)
    combos = [dict(zip(keys, v, strict=True)) for v in itertools.product(*TERMS_GRID.values())]
    return [c for c in combos if c["terms_title"] > c["terms_tags"] > 1.0]


class TextModes:
    """Cached lists of every text mode for the judged queries, on one eval connection."""

    def __init__(self, conn: Connection, embedder: Embedder) -> None:
        self.conn = conn
        self.embedder = embedder
        self.terms_settings: dict[str, float] = {}
        self.weights: dict[str, float] = dict(fusion.HYBRID_WEIGHTS)
        self.rrf_k = fusion.HYBRID_K
        self.method = fusion.HYBRID_METHOD
        self.depth = m.K  # how deep the next list is fetched
        self.hybrid_depth = fusion.HYBRID_DEPTH
        self.feedback = fusion.HYBRID_FEEDBACK
        self._vectors: dict[int, np.ndarray] | None = None
        self._query: dict[str, np.ndarray] = {}
        self._semantic: dict[tuple[str, int], list[Hit]] = {}
        self._terms: dict[tuple[str, str, int], list[Hit]] = {}
        self._title: dict[tuple[str, int], list[Hit]] = {}

    def semantic(self, q: jq.JudgedQuery) -> list[Hit]:
        key = (q.text, self.depth)
        if key not in self._semantic:
            vector = self.query_vector(q)
            self._semantic[key] = db_call(
                self.conn,
                "semantic",
                lambda: recs.semantic(
                    conn=self.conn,
                    model=self.embedder.name,
                    vector=vector,
                    k=self.depth,
                    filters=Filters(),
                ),
            )
        return self._semantic[key]

    def query_vector(self, q: jq.JudgedQuery) -> np.ndarray:
        if q.text not in self._query:
            self._query[q.text] = self.embedder.encode([q.text])[0]
        return self._query[q.text]

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Items' vectors as the API's read model holds them (all loaded once)."""
        if self._vectors is None:
            found = load_serving_vectors(conn=self.conn, model=self.embedder.name,
                                         dim=self.embedder.dim)  # fmt: skip
            self.conn.rollback()
            self._vectors = {int(i): found.vectors[n] for n, i in enumerate(found.ids)}
        return {i: self._vectors[i] for i in ids if i in self._vectors}

    def terms(self, q: jq.JudgedQuery) -> list[Hit]:
        key = (q.text, repr(sorted(self.terms_settings.items())), self.depth)
        if key not in self._terms:

            def call() -> list[Hit]:
                for name, value in self.terms_settings.items():
                    self.conn.execute(
                        text("SELECT set_config(:n, :v, true)"),
                        {"n": f"pgrec.{name}", "v": str(value)},
                    )
                return recs.search_terms(conn=self.conn, q=q.text, k=self.depth, filters=Filters())

            self._terms[key] = db_call(self.conn, "search_terms", call)
        return self._terms[key]

    def title(self, q: jq.JudgedQuery) -> list[Hit]:
        key = (q.text, self.depth)
        if key not in self._title:
            self._title[key] = db_call(
                self.conn,
                "search_title",
                lambda: recs.search_title(
                    conn=self.conn, q=q.text, k=self.depth, filters=Filters()
                ),
            )
        return self._title[key]

    def single(self, mode: str) -> Lists:
        """One mode's list as the API answers it alone: 10 deep."""
        call = {"semantic": self.semantic, "terms": self.terms, "title": self.title}[mode]

        def top(q: jq.JudgedQuery) -> list[int]:
            self.depth = m.K
            return [h.item_id for h in call(q)]

        return top

    def hybrid(self, q: jq.JudgedQuery) -> list[int]:
        """As api.fusion.hybrid: the first pass, then feedback when chosen (lists as deep as
        both need, as the API fetches them)."""
        self.depth = max(self.hybrid_depth, self.feedback.depth if self.feedback else 0)
        lists = {"semantic": self.semantic(q), "terms": self.terms(q), "title": self.title(q)}
        if not lists["title"]:
            del lists["title"]
        if self.method == "scores":
            fused = fusion.normalized(lists, weights=self.weights)
        elif self.method == "mnz":
            fused = fusion.comb_mnz(lists, weights=self.weights)
        else:
            fused = fusion.rrf(lists, k=self.rrf_k, weights=self.weights)
        if self.feedback is not None:
            fused = fusion.feedback(
                fused, lists["terms"], self.query_vector(q), self.vectors, self.feedback
            )
        return [f.item_id for f in fused]

    def tune_terms(self, tuning: Sequence[Graded]) -> list[dict[str, Any]]:
        """Every grid point's tuning-half figures; the best one is kept in terms_settings."""
        table = []
        for settings in _terms_grid():
            self.terms_settings = settings
            p, n = objective(self.single("terms"), tuning)
            table.append({**settings, "precision": p, "ndcg": n})
        best = max(table, key=lambda r: r["precision"] + r["ndcg"])
        self.terms_settings = {k: best[k] for k in TERMS_GRID}
        return table

    def tune_hybrid(self, tuning: Sequence[Graded]) -> list[dict[str, Any]]:
        """Grid on the tuning half (semantic weight 1): fusion method (weighted RRF with its k,
        normalised scores, or CombMNZ), list depth, terms and title weights; then feedback
        (FEEDBACK_GRID) on the best of those; the best row of both is kept."""
        table: list[dict[str, Any]] = []
        self.feedback = None
        methods = [("rrf", k) for k in HYBRID_K_GRID] + [("scores", 0), ("mnz", 0)]
        for (method, k), depth, w_terms, w_title in itertools.product(
            methods, HYBRID_DEPTH_GRID, HYBRID_TERMS_GRID, HYBRID_TITLE_GRID
        ):
            self.method, self.rrf_k, self.hybrid_depth = method, k, depth
            self.weights = {"semantic": 1.0, "terms": w_terms, "title": w_title}
            p, n = objective(self.hybrid, tuning)
            table.append(
                {
                    "method": method,
                    "k": k,
                    "depth": depth,
                    "terms": w_terms,
                    "title": w_title,
                    "precision": p,
                    "ndcg": n,
                }
            )
        best = max(table, key=lambda r: r["precision"] + r["ndcg"])
        self.method, self.rrf_k = str(best["method"]), int(best["k"])
        self.hybrid_depth = int(best["depth"])
        self.weights = {
            "semantic": 1.0,
            "terms": float(best["terms"]),
            "title": float(best["title"]),
        }
        for values in itertools.product(*FEEDBACK_GRID.values()):
            how = dict(zip(FEEDBACK_GRID, values, strict=True))
            self.feedback = _as_feedback(how)
            p, n = objective(self.hybrid, tuning)
            table.append({**{k: best[k] for k in ("method", "k", "depth", "terms", "title")},
                          "feedback": how, "precision": p, "ndcg": n})  # fmt: skip
        return self._keep_best(table)

    def _keep_best(self, table: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The grid's argmax by P@10 + nDCG@10 (the first of equals: no feedback before
        feedback) becomes the hybrid this object answers with."""
        best = max(table, key=lambda r: r["precision"] + r["ndcg"])
        how = best.get("feedback")
        self.feedback = None if how is None else _as_feedback(how)
        return table


def _as_feedback(how: Mapping[str, float]) -> fusion.Feedback:
    return fusion.Feedback(int(how["seeds"]), how["beta"], int(how["depth"]), how["alpha"])


def run(
    conn: Connection,
    embedder: Embedder,
    queries: Sequence[jq.JudgedQuery],
    split: QuerySplit,
    labels: Mapping[int, jq.Labels],
) -> dict[str, Any]:
    """Tune on the tuning half, then every mode's figures on each half (report half first)."""
    tuning_ids, report_ids = set(split.tuning), set(split.report)
    tuning = graded((q for q in queries if q.id in tuning_ids), labels)
    report = graded((q for q in queries if q.id in report_ids), labels)
    modes = TextModes(conn, embedder)
    terms_grid = modes.tune_terms(tuning)
    hybrid_grid = modes.tune_hybrid(tuning)
    tfidf = TfidfSearch.from_db(conn)
    conn.rollback()
    named: dict[str, Lists] = {
        "semantic": modes.single("semantic"),
        "terms": modes.single("terms"),
        "title": modes.single("title"),
        "hybrid": modes.hybrid,
        "baseline: TF-IDF (title + description)": lambda q: tfidf.search(q.text, m.K),
    }

    def evaluate(half: Sequence[Graded], label: str) -> list[dict[str, Any]]:
        rows = []
        for name, mode in named.items():
            try:
                res = jq.evaluate_mode(name, mode, [g.query for g in half], labels)
                row = asdict(res)
            except ModeUnavailable as err:
                row = {
                    "mode": name,
                    "status": str(err),
                    "queries": 0,
                    "precision": None,
                    "ndcg": None,
                    "per_query": [],
                }
            rows.append({**row, "split": label})
        return rows

    long_queries = [q for q in queries if len(q.text.split()) >= 3]
    empty = [q.id for q in long_queries if not modes.single("terms")(q)]
    return {
        "split": split.to_json(),
        "modes": evaluate(report, "report"),
        "tuning_modes": evaluate(tuning, "tuning"),
        "chosen": {
            "terms": modes.terms_settings,
            "hybrid": {
                "method": modes.method,
                "k": modes.rrf_k,
                "depth": modes.hybrid_depth,
                "weights": modes.weights,
                "feedback": asdict(modes.feedback) if modes.feedback else None,
            },
            "objective": "mean P@10 + mean nDCG@10 on the tuning half",
        },
        "shipped": {
            "hybrid": {
                "method": fusion.HYBRID_METHOD,
                "k": fusion.HYBRID_K,
                "depth": fusion.HYBRID_DEPTH,
                "weights": dict(fusion.HYBRID_WEIGHTS),
                "feedback": asdict(fusion.HYBRID_FEEDBACK) if fusion.HYBRID_FEEDBACK else None,
            },
        },
        "grids": {"terms": terms_grid, "hybrid": hybrid_grid},
        "natural_queries": {"three_or_more_words": len(long_queries), "empty_terms": empty},
    }
