"""Collecting the ranker's training data: histories cut, candidates read, all rolled back.

For each chosen user the latest part of their likes is held out and their history cut just
before it; co-occurrence and item stats are rebuilt on what is left, and the candidates that
rec.user_candidates serves for that past are labelled by the held-out items. All of it runs
in one transaction that is rolled back, so the model learns from the very SQL that serves
it, and no held-out event reaches a feature. See docs/ranker.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from db import cooccurrence as cooc_store
from db import ranker as store
from db.embeddings import find_active_model
from jobs import cooccurrence as cooc
from jobs.runner import snapshot

log = logging.getLogger(__name__)

MIN_USERS = 10
MIN_POSITIVES = 5  # positive items a user needs to be trained on
MAX_PER_SOURCE = 1000
MAX_SEED = 2**31 - 1  # ranking_models.seed is an integer column
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
class Dataset:
    """Every chosen user's candidates with features and labels, as of their cut time."""

    features: list[str]
    users: list[str]
    user_at: np.ndarray  # per candidate: position in `users` (rows ordered by it)
    items: np.ndarray
    x: np.ndarray
    y: np.ndarray  # bool: the item is in the user's held-out set
    held: np.ndarray  # per user: how many items were held out
    fallback: store.Weights  # the weights rec.ranker() serves with no model active
    eligible: int  # users with enough likes (and some left after the cut)
    signature: str  # of the snapshot the data was read from
    cooccurrence: dict[str, Any]  # the parameters of the rebuild
    embedding_model: str | None

    def rows_of(self, user: int) -> slice:
        lo, hi = np.searchsorted(self.user_at, [user, user + 1])
        return slice(int(lo), int(hi))


def _embedding_model(conn: Connection) -> str | None:
    """The active embedding model's name: the semantic features depend on it."""
    model = find_active_model(conn)
    return None if model is None else model.name


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


def signature_of(conn: Connection, options: Options) -> str:
    model = _embedding_model(conn)
    return (
        f"{cooc_store.interactions_signature(conn=conn)} {options.signature()} "
        f"cooccurrence=({cooc.stored_params(conn).signature()}) embedding_model={model}"
    )


def _chosen_users(
    conn: Connection, options: Options
) -> tuple[dict[str, tuple[dt.datetime, set[int]]], list[str]]:
    """Every eligible user's (cut, held-out items), and the users chosen to train on."""
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
    return splits, users


def collect(conn: Connection, options: Options) -> Dataset:
    """Cut, rebuild, read candidates and roll it all back: the training data."""
    with snapshot(conn, keep=False):
        signature = signature_of(conn, options)
        features = store.feature_names(conn=conn)
        embedding_model = _embedding_model(conn)
        splits, users = _chosen_users(conn, options)
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
        fallback=fallback,
        eligible=len(splits),
        signature=signature,
        cooccurrence=asdict(params),
        embedding_model=embedding_model,
    )
