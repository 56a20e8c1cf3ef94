"""Training job of the scoring stage: a logistic regression on rec.user_candidates' features.

For each chosen user the latest part of their likes is held out and their history cut just
before it; co-occurrence and item stats are rebuilt on what is left, and the candidates that
rec.user_candidates serves for that past are labelled by the held-out items. All of it runs
in one transaction that is rolled back, so the model learns from the very SQL that serves
it, and no held-out event reaches a feature. See docs/ranker.md.
Schedule: after `pgrec cooccurrence refresh` (`pgrec worker --refresh-every` runs both); a
run that finds the interactions of the last one does nothing but read their signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import numbers
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from sqlalchemy import Connection, Engine, text

from db import cooccurrence as cooc_store
from db import ranker as store
from jobs import cooccurrence as cooc
from jobs.neighbors import exclusive_run, job_engine

log = logging.getLogger(__name__)

JOB = "ranker"
LOCK_SCOPE = "interactions"
MIN_USERS = 10
MIN_POSITIVES = 5  # positive items a user needs to be trained on
MAX_PER_SOURCE = 1000
MAX_SEED = 2**31 - 1  # ranking_models.seed is an integer column
VALIDATION_SHARE = 0.2
K = 10  # cut-off of HR@K and nDCG@K
# A feature whose spread is below this is constant (fresh, on a catalog loaded at once):
# stored with scale 0, its term drops out of the SQL score instead of amplifying noise.
MIN_SCALE = 1e-4
DECIMALS = 6
USERS_PER_QUERY = 50  # rec.user_candidates calls per statement: ~0.15 s each


def _integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class Options:
    seed: int = 0
    users: int | None = None  # at most this many users (a seeded sample); None: all
    holdout: float = 0.2
    per_source: int = 100

    def check(self) -> None:
        """ValueError naming the option when one is out of range."""
        if not _integer(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seed must be an integer from 0 to {MAX_SEED} (got {self.seed!r})")
        if self.users is not None and (not _integer(self.users) or self.users < MIN_USERS):
            raise ValueError(f"--users must be an integer >= {MIN_USERS} (got {self.users!r})")
        h = self.holdout
        if isinstance(h, bool) or not isinstance(h, numbers.Real) or not 0 < h < 1:
            raise ValueError(f"--holdout must be a number between 0 and 1, exclusive (got {h!r})")
        if not _integer(self.per_source) or not 1 <= self.per_source <= MAX_PER_SOURCE:
            raise ValueError(
                f"--per-source must be an integer from 1 to {MAX_PER_SOURCE} "
                f"(got {self.per_source!r})"
            )

    def signature(self) -> str:
        return (
            f"seed={self.seed} users={self.users or 'all'} holdout={float(self.holdout)!r} "
            f"per_source={self.per_source}"
        )


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


@dataclass(frozen=True)
class Dataset:
    """Every chosen user's candidates with features and labels, as of their cut time."""

    features: list[str]
    users: list[str]
    user_at: np.ndarray  # per candidate: position in `users` (rows ordered by it)
    items: np.ndarray
    x: np.ndarray
    y: np.ndarray  # bool: the item is in the user's held-out set
    held: np.ndarray  # per user: how many items were held out
    fallback: Linear
    eligible: int  # users with enough likes (and some left after the cut)
    signature: str  # of the snapshot the data was read from
    cooccurrence: dict[str, Any]  # the parameters of the rebuild
    embedding_model: str | None

    def rows_of(self, user: int) -> slice:
        lo, hi = np.searchsorted(self.user_at, [user, user + 1])
        return slice(int(lo), int(hi))


@dataclass(frozen=True)
class RankerRun:
    unchanged: bool  # same signature as the last run: nothing was trained or written
    signature: str
    seconds: float
    version: str | None = None
    created: bool = False  # False: that version (same data, same seed) was stored already
    active: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    trained_on: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def split_history(
    likes: list[tuple[dt.datetime, int]], holdout: float
) -> tuple[dt.datetime, set[int]] | None:
    """(cut time, held-out items) of a user's likes ordered by time; None if nothing is left.

    The held-out items are the latest `holdout` share (at least one), and every item liked
    at the same time as the earliest of them: the cut deletes all events from that time on.
    """
    n_held = max(1, math.floor(holdout * len(likes) + 1e-9))
    cut = likes[len(likes) - n_held][0]
    held = {item for at, item in likes if at >= cut}
    return None if len(held) == len(likes) else (cut, held)


def _signature(conn: Connection, options: Options) -> str:
    model = store.active_embedding_model(conn=conn)
    return (
        f"{cooc_store.interactions_signature(conn=conn)} {options.signature()} "
        f"cooccurrence=({cooc.stored_params(conn).signature()}) embedding_model={model}"
    )


def collect(conn: Connection, options: Options) -> Dataset:
    """Cut, rebuild, read candidates and roll it all back: the training data."""
    trans = conn.begin()
    try:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        signature = _signature(conn, options)
        features = store.feature_names(conn=conn)
        embedding_model = store.active_embedding_model(conn=conn)
        splits: dict[str, tuple[dt.datetime, set[int]]] = {}
        for user, likes in store.positive_items(conn=conn, min_items=MIN_POSITIVES).items():
            split = split_history(likes, options.holdout)
            if split is not None:
                splits[user] = split
        if len(splits) < MIN_USERS:
            raise ValueError(
                f"too few users with enough likes to train (found {len(splits)}, need "
                f"{MIN_USERS}: users with at least {MIN_POSITIVES} liked items)"
            )
        users = list(splits)
        if options.users is not None and options.users < len(users):
            picked = np.random.default_rng(options.seed).choice(len(users), options.users, False)
            users = [users[i] for i in np.sort(picked)]
        deleted = store.truncate_histories(
            conn=conn, users=users, cuts=[splits[u][0] for u in users]
        )
        params = cooc.stored_params(conn)
        cooc.rebuild(conn, params)
        store.deactivate(conn=conn)
        fallback = store.current_weights(conn=conn)
        if fallback.version != "fallback":  # pgrec.ranker set for this role or database
            raise RuntimeError(f"rec.ranker() gave {fallback.version!r} with no model active")
        parts = []
        for lo in range(0, len(users), USERS_PER_QUERY):
            at, items, x = store.candidates(
                conn=conn, users=users[lo : lo + USERS_PER_QUERY], per_source=options.per_source
            )
            parts.append((at + lo, items, x.reshape(len(items), len(features))))
            done = min(lo + USERS_PER_QUERY, len(users))
            log.info("ranker: candidates of %d/%d users", done, len(users))
        log.info("ranker: %d events of %d users held out", deleted, len(users))
    finally:
        trans.rollback()
    user_at, items, x = (np.concatenate(p) for p in zip(*parts, strict=True))
    held = [splits[u][1] for u in users]
    y = np.fromiter(
        (int(i) in held[u] for u, i in zip(user_at.tolist(), items.tolist(), strict=True)),
        bool,
        len(items),
    )
    return Dataset(
        features=features,
        users=users,
        user_at=user_at,
        items=items,
        x=x,
        y=y,
        held=np.array([len(h) for h in held]),
        fallback=Linear.of(fallback),
        eligible=len(splits),
        signature=signature,
        cooccurrence=asdict(params),
        embedding_model=embedding_model,
    )


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
    """ROC AUC over the users' candidates; HR@K and nDCG@K of each user's list, averaged.

    A list is the user's candidates by score (then item id, as rec.for_user breaks ties);
    nDCG's ideal counts every held-out item, candidate or not.
    """
    rows = np.isin(data.user_at, users)
    y = data.y[rows]
    auc = float(roc_auc_score(y, scores[rows])) if 0 < y.sum() < len(y) else None
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    hits, gains = [], []
    for u in users.tolist():
        at = data.rows_of(u)
        top = np.lexsort((data.items[at], -scores[at]))[:K]
        found = data.y[at][top]
        hits.append(float(found.any()))
        ideal = discounts[: min(int(data.held[u]), K)].sum()
        gains.append(float(found @ discounts[: len(found)]) / ideal)
    return {
        "auc": None if auc is None else round(auc, 4),
        f"hr@{K}": round(float(np.mean(hits)), 4),
        f"ndcg@{K}": round(float(np.mean(gains)), 4),
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
    return {
        "validation_users": int(n_val),
        "fit_users": int(n - n_val),
        "k": K,
        "model": ranking_metrics(data, model.score(data.x), val),
        "fallback": ranking_metrics(data, data.fallback.score(data.x), val),
        "popularity": ranking_metrics(data, pop, val),
    }


def version_of(features: list[str], params: dict[str, Any], seed: int) -> str:
    """ "lr-" + 12 hex of the canonical JSON: the same data and seed give the same version."""
    blob = json.dumps(
        {"features": features, "params": params, "seed": seed},
        sort_keys=True,
        separators=(",", ":"),
    )
    return "lr-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def train_ranker(
    url: str | None = None,
    *,
    seed: int = 0,
    users: int | None = None,
    holdout: float = 0.2,
    per_source: int = 100,
    activate: bool = True,
    force: bool = False,
    always_activate: bool = False,
) -> RankerRun:
    """Train, validate and store a ranking model; see docs/ranker.md.

    With `activate`, the new version serves only if its validation nDCG@10 is at least the
    fallback weights' (or with `always_activate`): a model that ranks worse than the
    documented fallback is stored for inspection, not served.
    """
    options = Options(seed=seed, users=users, holdout=holdout, per_source=per_source)
    options.check()
    started = time.perf_counter()
    engine = job_engine(url)
    try:
        with (
            engine.connect() as conn,
            exclusive_run(conn, JOB, LOCK_SCOPE),
            # The rolled-back rebuild writes item_cooccurrence too: take turns with the job.
            exclusive_run(conn, cooc.JOB, cooc.LOCK_SCOPE),
        ):
            with conn.begin():
                signature = _signature(conn, options)
                state = cooc_store.get_state(conn=conn, job=JOB)
            if not force and state is not None and state.signature == signature:
                log.info("ranker unchanged: %s", signature)
                return RankerRun(True, signature, time.perf_counter() - started)
            run = _train(conn, options, activate, always_activate, started)
    finally:
        engine.dispose()
    log.info("ranker trained: %s (%.1fs) %s", run.version, run.seconds, run.metrics)
    return run


def beats_fallback(metrics: dict[str, Any]) -> bool:
    """Whether the model's validation nDCG@10 is at least the fallback weights'."""
    model, fallback = metrics.get("model") or {}, metrics.get("fallback") or {}
    if model.get("ndcg@10") is None or fallback.get("ndcg@10") is None:
        return False
    return bool(model["ndcg@10"] >= fallback["ndcg@10"])


def _train(
    conn: Connection, options: Options, activate: bool, always: bool, started: float
) -> RankerRun:
    data = collect(conn, options)
    metrics = validate(data, options.seed)
    activate = activate and (always or beats_fallback(metrics))
    params = fit(data.x, data.y, options.seed, groups=data.user_at).rounded().params()
    version = version_of(data.features, params, options.seed)
    positives = int(data.y.sum())
    trained_on = {
        "users": len(data.users),
        "eligible_users": data.eligible,
        "candidates": len(data.y),
        "positives": positives,
        "held_out": int(data.held.sum()),
        "candidate_recall": round(positives / max(int(data.held.sum()), 1), 4),
        "holdout": float(options.holdout),
        "per_source": options.per_source,
        "cooccurrence": data.cooccurrence,
        "embedding_model": data.embedding_model,
        "signature": data.signature,
    }
    with conn.begin():
        created = store.insert_model(
            conn=conn,
            version=version,
            features=data.features,
            params=params,
            trained_on=trained_on,
            metrics=metrics,
            seed=options.seed,
        )
        if activate:
            store.activate(conn=conn, version=version)
        seconds = time.perf_counter() - started
        details = {"version": version, "created": created, "activated": activate, **asdict(options)}
        cooc_store.record_state(
            conn=conn, job=JOB, signature=data.signature, seconds=seconds, details=details
        )
    return RankerRun(
        False, data.signature, seconds, version, created, activate, params, trained_on, metrics
    )


def activate_ranker(engine: Engine, *, version: str) -> None:
    """Make a stored version the one rec.ranker() serves (LookupError if unknown)."""
    with engine.begin() as conn:
        store.activate(conn=conn, version=version)


def deactivate_ranker(engine: Engine) -> str | None:
    """Back to the fallback weights; the version that was active, if any."""
    with engine.begin() as conn:
        return store.deactivate(conn=conn)


def list_rankers(engine: Engine) -> list[store.ModelRow]:
    """Every stored version, newest first."""
    with engine.connect() as conn:
        return store.list_models(conn=conn)
