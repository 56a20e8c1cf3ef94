"""Fitting the ranker: a pairwise logistic regression, validated against the fallback."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from db import ranker as store
from jobs.ranker_collect import Dataset

VALIDATION_SHARE = 0.2
K = 10  # cut-off of HR@K and nDCG@K
BOOTSTRAP = 2000  # resamples of the validation users for the gate's interval
# A feature whose spread is below this is constant (fresh, on a catalog loaded at once):
# stored with scale 0, its term drops out of the SQL score instead of amplifying noise.
MIN_SCALE = 1e-4
DECIMALS = 6


@dataclass(frozen=True)
class Linear:
    """intercept + sum(coef * (x - mean) / scale), terms with scale 0 left out: rec.ranker."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def of(cls, w: store.Weights) -> Linear:
        return cls(np.array(w.mean), np.array(w.scale), np.array(w.coef), w.intercept)

    def score(self, x: np.ndarray) -> np.ndarray:
        used = self.scale != 0
        z = (x[:, used] - self.mean[used]) / self.scale[used]
        return np.asarray(self.intercept + z @ self.coef[used], dtype=np.float64)

    def rounded(self) -> Linear:
        def r(a: np.ndarray) -> np.ndarray:
            return np.round(a.astype(np.float64), DECIMALS) + 0.0  # + 0.0: no "-0.0"

        return Linear(r(self.mean), r(self.scale), r(self.coef), round(self.intercept, DECIMALS))

    def params(self) -> dict[str, Any]:
        """The ranking_models.params JSON."""
        return {
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "coef": [float(v) for v in self.coef],
            "intercept": float(self.intercept) + 0.0,
        }


PAIRS_PER_POSITIVE = 20  # negatives drawn (seeded) from the same user for each held-out item


def pair_differences(
    z: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise training rows: z(positive) - z(negative) of the same user, both signs.

    A logistic regression without intercept on these learns w with w.z(pos) > w.z(neg)
    within each user's list (linear RankNet): the order a user sees, not how scores compare
    across users, which a pooled pointwise fit spends its capacity on.
    """
    rng = np.random.default_rng(seed)
    diffs: list[np.ndarray] = []
    for g in np.unique(groups).tolist():
        rows = np.flatnonzero(groups == g)
        pos, neg = rows[y[rows]], rows[~y[rows]]
        if not len(pos) or not len(neg):
            continue
        for p in pos.tolist():
            picked = rng.choice(neg, size=min(PAIRS_PER_POSITIVE, len(neg)), replace=False)
            diffs.append(z[p] - z[picked])
    if not diffs:
        raise ValueError("no user has both a held-out candidate and another: nothing to learn")
    d = np.concatenate(diffs)
    return np.concatenate([d, -d]), np.concatenate([np.ones(len(d)), np.zeros(len(d))])


def fit(x: np.ndarray, y: np.ndarray, seed: int, groups: np.ndarray | None = None) -> Linear:
    """StandardScaler + LogisticRegression; a constant feature gets mean, scale and coef 0.

    With `groups` (the user of each row) the regression is pairwise (pair_differences) and
    the intercept 0: the scores rank within a user, they are not probabilities.
    """
    if y.all() or not y.any():
        raise ValueError(
            "the candidates hold no held-out item (or nothing else): nothing to learn; "
            "raise --per-source or --users"
        )
    # Constants are left out of the fit (numpy's two-pass std: never negative, unlike the
    # scaler's running variance, whose sqrt warns on a constant column).
    varying = x.std(axis=0) >= MIN_SCALE
    if not varying.any():
        raise ValueError("every feature is constant over the candidates: nothing to learn")
    scaler = StandardScaler().fit(x[:, varying])
    z = scaler.transform(x[:, varying])
    if groups is not None:
        dz, dy = pair_differences(z, y, groups, seed)
        model = LogisticRegression(random_state=seed, max_iter=1000, C=1.0, fit_intercept=False)
        model.fit(dz, dy)
    else:
        model = LogisticRegression(random_state=seed, max_iter=1000, C=1.0)
        model.fit(z, y)
    # A constant's mean is stored as 0 too: fresh's drifts with now() and would move the version.
    mean, scale, coef = np.zeros(x.shape[1]), np.zeros(x.shape[1]), np.zeros(x.shape[1])
    mean[varying], scale[varying], coef[varying] = scaler.mean_, scaler.scale_, model.coef_[0]
    intercept = float(model.intercept_[0]) if groups is None else 0.0
    return Linear(mean, scale, coef, intercept)


def ranking_metrics(data: Dataset, scores: np.ndarray, users: np.ndarray) -> dict[str, Any]:
    """ROC AUC over the users' candidates; HR@K and nDCG@K of each user's list, averaged."""
    rows = np.isin(data.user_at, users)
    y = data.y[rows]
    auc = float(roc_auc_score(y, scores[rows])) if 0 < y.sum() < len(y) else None
    hits, gains = per_user(data, scores, users)
    return {
        "auc": None if auc is None else round(auc, 4),
        f"hr@{K}": round(float(np.mean(hits)), 4),
        f"ndcg@{K}": round(float(np.mean(gains)), 4),
    }


def per_user(data: Dataset, scores: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each user's hit@K and nDCG@K, in the order of `users`.

    A list is the user's candidates by score (then item id, as rec.for_user breaks ties);
    nDCG's ideal counts every held-out item, candidate or not.
    """
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    hits, gains = [], []
    for u in users.tolist():
        at = data.rows_of(u)
        top = np.lexsort((data.items[at], -scores[at]))[:K]
        found = data.y[at][top]
        hits.append(float(found.any()))
        ideal = discounts[: min(int(data.held[u]), K)].sum()
        gains.append(float(found @ discounts[: len(found)]) / ideal)
    return np.asarray(hits), np.asarray(gains)


def gain_interval(model: np.ndarray, fallback: np.ndarray, seed: int) -> dict[str, Any]:
    """Mean per-user nDCG@K gain of the model over the fallback with a paired bootstrap 95% CI.

    The gate serves a model only when the interval's low end is above 0: on a hundred
    validation users a gain of a few thousandths is noise, and serving on noise swapped a
    better fallback for a worse model in `pgrec eval`'s test split.
    """
    diff = model - fallback
    rng = np.random.default_rng([seed, len(diff)])
    means = diff[rng.integers(0, len(diff), size=(BOOTSTRAP, len(diff)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return {
        "mean": round(float(diff.mean()), 4),
        "ci95": [round(float(low), 4), round(float(high), 4)],
    }


def validate(data: Dataset, seed: int) -> dict[str, Any]:
    """Fit on 80% of the users, rank the other 20% by the model, the fallback, popularity."""
    n = len(data.users)
    order = np.random.default_rng([seed, n]).permutation(n)
    n_val = max(1, round(VALIDATION_SHARE * n))
    val, fit_users = np.sort(order[:n_val]), np.sort(order[n_val:])
    rows = np.isin(data.user_at, fit_users)
    model = fit(data.x[rows], data.y[rows], seed, groups=data.user_at[rows]).rounded()
    pop = data.x[:, data.features.index("pop")]
    model_scores, fallback_scores = model.score(data.x), Linear.of(data.fallback).score(data.x)
    gain = gain_interval(
        per_user(data, model_scores, val)[1], per_user(data, fallback_scores, val)[1], seed
    )
    return {
        "validation_users": int(n_val),
        "fit_users": int(n - n_val),
        "k": K,
        "model": ranking_metrics(data, model_scores, val),
        "fallback": ranking_metrics(data, fallback_scores, val),
        "popularity": ranking_metrics(data, pop, val),
        "ndcg_gain_over_fallback": gain,
    }


def version_of(features: list[str], params: dict[str, Any], seed: int) -> str:
    """ "lr-" + 12 hex of the canonical JSON: the same data and seed give the same version."""
    blob = json.dumps(
        {"features": features, "params": params, "seed": seed},
        sort_keys=True,
        separators=(",", ":"),
    )
    return "lr-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def beats_fallback(metrics: dict[str, Any]) -> bool:
    """Whether the model's validation nDCG@10 beats the fallback weights' beyond noise: the
    paired bootstrap 95% interval of its per-user gain lies above 0."""
    gain = metrics.get("ndcg_gain_over_fallback") or {}
    interval = gain.get("ci95")
    return bool(interval is not None and interval[0] > 0)
