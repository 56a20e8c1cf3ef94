"""The recommenders compared on the user protocol: baselines, db.recs modes and RRF hybrids.

Every source answers a `Case` with up to DEPTH hits, best first, never an item the user
rated in training (the held-out item is not excluded: it is what we hope to see). Sources
backed by db.recs get those items as `Filters.exclude_ids`; whatever comes back anyway is
dropped and counted (`returned_excluded`), so a leak in a mode shows in the JSON. Hybrids
fuse their sources' DEPTH-long lists with the API's RRF (api.fusion.rrf, k=60), then cut.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from api.fusion import rrf
from bench import eval_metrics as m
from bench.eval_protocol import LIKE, Case
from db import recs
from db.recs import Filters, Hit
from db.recs.calls import call_hits, filters_json

log = logging.getLogger(__name__)

DEPTH = 50  # each source's list length: what the hybrids fuse

Source = Callable[[Case], list[Hit]]

# name -> the sources it fuses; documented in bench/README.md.
HYBRIDS: dict[str, tuple[str, ...]] = {
    "hybrid: more-like-these + popularity": ("more-like-these", "popularity"),
    "hybrid: RRF of co-occurrence + interests + popular": (
        "co-occurrence",
        "interests",
        "popular (rec.popular)",
    ),
}


@dataclass(frozen=True)
class Training:
    """What the eval database's (training-only) interactions say about the catalog."""

    catalog: tuple[int, ...]  # every item id, ascending
    popular: tuple[int, ...]  # every item: most training likes first, then most raters, then id
    likes: Mapping[int, int]
    users_per_item: Mapping[int, int]
    users: int


def read_training(*, conn: Connection, like: float = LIKE) -> Training:
    """Catalog ids and training popularity, read from the eval database."""
    catalog = tuple(
        int(i) for i in conn.execute(text("SELECT id FROM items ORDER BY id")).scalars()
    )
    rows = conn.execute(
        text(
            "SELECT item_id, count(*) FILTER (WHERE value >= :like) AS likes,"
            " count(DISTINCT user_id) AS users FROM interactions GROUP BY item_id"
        ),
        {"like": like},
    ).all()
    likes = {int(r.item_id): int(r.likes) for r in rows}
    raters = {int(r.item_id): int(r.users) for r in rows}
    users = conn.execute(text("SELECT count(DISTINCT user_id) FROM interactions")).scalar_one()
    popular = sorted(catalog, key=lambda i: (-likes.get(i, 0), -raters.get(i, 0), i))
    return Training(catalog, tuple(popular), likes, raters, int(users))


def popularity(training: Training) -> Source:
    """Most liked in training, the user's training items skipped."""

    def source(case: Case) -> list[Hit]:
        out: list[Hit] = []
        for item in training.popular:
            if item not in case.train_seen:
                out.append(Hit(item, float(training.likes.get(item, 0))))
                if len(out) == DEPTH:
                    break
        return out

    return source


def random_items(training: Training, seed: int) -> Source:
    """Uniform over the catalog minus the user's training items; seeded per user."""

    def source(case: Case) -> list[Hit]:
        pool = [i for i in training.catalog if i not in case.train_seen]
        picked = random.Random(f"{seed}:{case.user}").sample(pool, min(DEPTH, len(pool)))
        return [Hit(item, 0.0) for item in picked]

    return source


def _exclude(case: Case) -> Filters:
    return Filters(exclude_ids=tuple(sorted(case.train_seen)))


class ModeUnavailable(Exception):
    """A mode that is not built yet or fails: its row says why, and the rest of the run goes on."""


def db_call(conn: Connection, name: str, call: Callable[[], list[Hit]]) -> list[Hit]:
    """Run one db.recs call in a short transaction of its own; see ModeUnavailable."""
    try:
        return call()
    except NotImplementedError:
        raise ModeUnavailable(f"blocked: db.recs.{name} is not implemented yet") from None
    except (DBAPIError, recs.InvalidInput) as err:
        log.warning("db.recs.%s failed", name, exc_info=True)
        cause = err.orig if isinstance(err, DBAPIError) else err
        first = (str(cause).splitlines() or [type(cause).__name__])[0]
        raise ModeUnavailable(f"failed: db.recs.{name}: {first}") from None
    finally:
        conn.rollback()  # a failed statement must not poison the next call


def unavailable(status: str) -> Source:
    """A source that cannot run (its row shows `status`)."""

    def source(case: Case) -> list[Hit]:
        raise ModeUnavailable(status)

    return source


def more_like_these(conn: Connection) -> Source:
    """db.recs.more_like with positive = the user's training likes (the semantic centroid)."""

    def source(case: Case) -> list[Hit]:
        return db_call(
            conn,
            "more_like",
            lambda: (
                recs.more_like(
                    conn=conn,
                    positive=list(case.train_likes),
                    negative=[],
                    weights=None,
                    k=DEPTH,
                    filters=_exclude(case),
                ).hits
            ),
        )

    return source


def user_mode(
    conn: Connection, *, ranker: str | None = None, interleave: bool | None = None
) -> Source:
    """db.recs.for_user (the hybrid user mode) on the user's training interactions.

    `ranker`: a session override of the scoring stage ('fallback' or a version; None = the
    active model); `interleave`: True places items by interest share, False ranks by score
    alone, None does what rec._defaults serves.
    """

    def call(case: Case) -> list[Hit]:
        if ranker is not None:
            conn.execute(text("SELECT set_config('pgrec.ranker', :r, true)"), {"r": ranker})
        if interleave is not None:
            conn.execute(
                text("SELECT set_config('pgrec.interleave', :i, true)"),
                {"i": "1" if interleave else "0"},
            )
        return recs.for_user(conn=conn, user_id=case.user, k=DEPTH, filters=_exclude(case))

    def source(case: Case) -> list[Hit]:
        return db_call(conn, "for_user", lambda: call(case))

    return source


def centroid_mode(conn: Connection) -> Source:
    """rec.for_user_centroid: the first user mode, one vector of all the user's interactions."""
    sql = text("SELECT item_id, score FROM rec.for_user_centroid(:u, :k, CAST(:f AS jsonb))")

    def source(case: Case) -> list[Hit]:
        params = {"u": case.user, "k": DEPTH, "f": filters_json(_exclude(case))}
        return db_call(conn, "for_user_centroid", lambda: call_hits(conn, sql, params))

    return source


def popular_in_db(conn: Connection) -> Source:
    """rec.popular: the cold-start list (item_stats preference within the filters)."""

    def source(case: Case) -> list[Hit]:
        return db_call(
            conn, "popular", lambda: recs.popular(conn=conn, k=DEPTH, filters=_exclude(case))
        )

    return source


@dataclass
class Candidates:
    """rec.user_candidates of the last user asked (with its interests' shares), fetched once
    for the component sources (each ranks its own source's candidates by its own feature)."""

    conn: Connection
    per_source: int = 100
    user: str | None = None
    rows: list[Any] = field(default_factory=list)
    shares: dict[int, float] = field(default_factory=dict)

    def of(self, case: Case) -> list[Any]:
        if case.user != self.user:

            def fetch() -> list[Hit]:
                self.rows = list(
                    self.conn.execute(
                        text(
                            "SELECT item_id, features, sources, interest, interest_share"
                            " FROM rec.user_candidates(:u, CAST(:f AS jsonb), :n)"
                        ),
                        {"u": case.user, "f": filters_json(_exclude(case)), "n": self.per_source},
                    )
                )
                self.shares = {
                    int(r.interest): float(r.interest_share)
                    for r in self.rows
                    if r.interest is not None
                }
                return []

            db_call(self.conn, "user_candidates", fetch)
            self.user = case.user
        return self.rows


FEATURE = {"cooc": 0, "sem": 3}


def cooccurrence_only(candidates: Candidates) -> Source:
    """The co-occurrence source alone: its candidates by summed co-occurrence with the likes."""

    def source(case: Case) -> list[Hit]:
        rows = [r for r in candidates.of(case) if "cooc" in r.sources]
        rows.sort(key=lambda r: (-r.features[FEATURE["cooc"]], r.item_id))
        return [Hit(int(r.item_id), float(r.features[FEATURE["cooc"]])) for r in rows[:DEPTH]]

    return source


def interests_only(candidates: Candidates) -> Source:
    """The per-interest semantic source alone, interleaved by interest share (as in SQL)."""

    def source(case: Case) -> list[Hit]:
        rows = [r for r in candidates.of(case) if "interest" in r.sources]
        rows.sort(key=lambda r: (-r.features[FEATURE["sem"]], r.item_id))
        seen: dict[int, int] = {}
        placed = []
        for r in rows:
            seen[r.interest] = seen.get(r.interest, 0) + 1
            share = candidates.shares.get(r.interest, 1.0)
            placed.append((seen[r.interest] / share, -r.features[FEATURE["sem"]], r.item_id))
        placed.sort()
        return [Hit(int(i), -float(s)) for _, s, i in placed[:DEPTH]]

    return source


@dataclass
class SystemLists:
    """One system's top-k per user, or why it could not run."""

    name: str
    fuses: tuple[str, ...] = ()
    status: str = "ok"
    lists: dict[str, tuple[int, ...]] = field(default_factory=dict)
    seconds: float = 0.0
    returned_excluded: int = 0


def recommend(
    cases: Sequence[Case],
    sources: Mapping[str, Source],
    hybrids: Mapping[str, tuple[str, ...]] = HYBRIDS,
    k: int = m.K,
) -> list[SystemLists]:
    """Every source and hybrid's top-k for every case; a source that is not built is blocked."""
    out = {name: SystemLists(name) for name in sources}
    out.update({name: SystemLists(name, fuses=parts) for name, parts in hybrids.items()})
    for case in cases:
        hits: dict[str, list[Hit]] = {}
        for name, source in sources.items():
            system = out[name]
            if system.status != "ok":
                continue
            start = time.perf_counter()
            try:
                raw = source(case)
            except ModeUnavailable as err:
                system.status = str(err)
                continue
            except NotImplementedError as err:
                system.status = f"blocked: {err or 'not implemented'}"
                continue
            system.seconds += time.perf_counter() - start
            kept = [h for h in raw if h.item_id not in case.train_seen]
            system.returned_excluded += len(raw) - len(kept)
            hits[name] = kept
            system.lists[case.user] = tuple(h.item_id for h in kept[:k])
        for name, parts in hybrids.items():
            system = out[name]
            if any(p not in hits for p in parts):
                continue
            fused = rrf({p: hits[p] for p in parts})
            system.lists[case.user] = tuple(f.item_id for f in fused[:k])
    for name, parts in hybrids.items():
        system = out[name]
        blocked = [out[p].status for p in parts if out[p].status != "ok"]
        if blocked:
            system.status, system.lists = blocked[0], {}
        system.seconds = sum(out[p].seconds for p in parts if p in out)
    return list(out.values())


@dataclass(frozen=True)
class SystemScore:
    name: str
    status: str
    fuses: tuple[str, ...]
    users: int
    hr: float | None
    hr_ci95: float | None
    ndcg: float | None
    ndcg_ci95: float | None
    coverage: float | None
    ild: float | None
    novelty: float | None
    ms_per_user: float | None
    returned_excluded: int


@dataclass(frozen=True)
class Scoring:
    """What the metrics need beyond the lists: catalog, item vectors, popularity shares."""

    catalog_size: int
    vector_row: Mapping[int, int]
    vectors: np.ndarray
    share: Mapping[int, float]


def score(
    system: SystemLists, cases: Sequence[Case], scoring: Scoring, k: int = m.K
) -> SystemScore:
    """The protocol's metrics of one system over the users it answered."""
    if system.status != "ok" or not system.lists:
        return SystemScore(
            system.name, system.status, system.fuses, 0,
            None, None, None, None, None, None, None, None, system.returned_excluded,
        )  # fmt: skip
    answered = [c for c in cases if c.user in system.lists]
    lists = [system.lists[c.user] for c in answered]
    hits = [m.hit_rate(lst, c.held_out, k) for lst, c in zip(lists, answered, strict=True)]
    gains = [m.ndcg_single(lst, c.held_out, k) for lst, c in zip(lists, answered, strict=True)]
    ild = m.mean(
        m.intra_list_diversity(
            scoring.vectors[[scoring.vector_row[i] for i in lst if i in scoring.vector_row]]
        )
        for lst in lists
    )
    return SystemScore(
        name=system.name,
        status="ok",
        fuses=system.fuses,
        users=len(answered),
        hr=m.mean(hits),
        hr_ci95=m.ci95(hits),
        ndcg=m.mean(gains),
        ndcg_ci95=m.ci95(gains),
        coverage=m.coverage(lists, scoring.catalog_size, k),
        ild=ild,
        novelty=m.mean(m.novelty(lst, scoring.share, k) for lst in lists),
        ms_per_user=1000.0 * system.seconds / len(answered) if answered else None,
        returned_excluded=system.returned_excluded,
    )
