"""Leave-last-liked-out on MovieLens ratings joined to TMDB: which events train, which one tests.

Per user, after mapping ratings to catalog items and keeping one rating per (user, item):
the held-out item is the most recent liked one (rating >= 4.0; ties on the timestamp go to
the larger item id); training is every rating of that user strictly before the held-out
time. Events at or after it (the held-out one, anything rated in the same second, anything
later) are never loaded, so no function under test can see them. Users with fewer than
five liked catalog items, or with no liked item strictly before the held-out time, are not
evaluated; all their ratings are training data for everybody else (popularity, and the
collaborative signal of later work). Other users' events are not cut at a user's held-out
time: the usual leave-one-out split, not a global temporal one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from db.ingest import movielens
from db.ingest.records import RowError

LIKE = 4.0
MIN_LIKES = 5


@dataclass(frozen=True, slots=True)
class DataPaths:
    """The three shared-data files the protocol reads."""

    tmdb: Path
    ratings: Path
    links: Path

    @classmethod
    def under(cls, data_dir: Path) -> DataPaths:
        """The layout of ../shared/data (see its README)."""
        ml = data_dir / "movielens_ml-latest-small"
        return cls(
            tmdb=data_dir / "tmdb_5000_movies" / "tmdb_5000_movies.csv",
            ratings=ml / "ratings.csv",
            links=ml / "links.csv",
        )

    def missing(self) -> list[Path]:
        return [p for p in (self.tmdb, self.ratings, self.links) if not p.is_file()]


@dataclass(frozen=True, slots=True)
class Event:
    """One rating of a catalog item: user_id as ingest writes it (`ml:<userId>`)."""

    user: str
    item: int
    value: float
    ts: int  # Unix seconds


@dataclass(frozen=True)
class Case:
    """One evaluated user: what is held out and what the recommenders may know."""

    user: str
    held_out: int
    cutoff: int  # the held-out rating's time; training is strictly before it
    train_likes: tuple[int, ...]  # liked training items, oldest first
    train_seen: frozenset[int]  # every training item: excluded from the candidates


@dataclass(frozen=True)
class Split:
    cases: tuple[Case, ...]
    training: tuple[Event, ...]
    users: int  # users with at least one catalog rating
    too_few_likes: int
    no_prior_like: int
    withheld: int  # events of evaluated users at or after their cutoff (never loaded)


def read_events(paths: DataPaths, item_of_tmdb: Mapping[int, int]) -> tuple[list[Event], int]:
    """The ratings that map to catalog items (through links.csv), and how many did not."""
    links = movielens.read_links(paths.links)
    errors: list[RowError] = []
    events: list[Event] = []
    unmapped = 0
    for r in movielens.read_ratings(paths.ratings, errors):
        tmdb = links.get(r.movie_id)
        item = item_of_tmdb.get(tmdb) if tmdb is not None else None
        if item is None:
            unmapped += 1
            continue
        events.append(Event(r.user_id, item, r.value, r.timestamp))
    if errors:
        raise ValueError(f"{paths.ratings}: {len(errors)} bad row(s), first: {errors[0]}")
    return events, unmapped


def dedupe(events: Iterable[Event]) -> list[Event]:
    """One rating per (user, item), the latest (two MovieLens ids can share a TMDb id)."""
    latest: dict[tuple[str, int], Event] = {}
    for e in events:
        key = (e.user, e.item)
        seen = latest.get(key)
        if seen is None or (e.ts, e.value) > (seen.ts, seen.value):
            latest[key] = e
    return sorted(latest.values(), key=lambda e: (e.user, e.ts, e.item))


def hold_out_last_like(user: str, events: Sequence[Event], like: float) -> Case:
    likes = [e for e in events if e.value >= like]
    last = max(likes, key=lambda e: (e.ts, e.item))
    before = [e for e in events if e.ts < last.ts]
    return Case(
        user=user,
        held_out=last.item,
        cutoff=last.ts,
        train_likes=tuple(e.item for e in before if e.value >= like),
        train_seen=frozenset(e.item for e in before),
    )


def split(events: Iterable[Event], *, like: float = LIKE, min_likes: int = MIN_LIKES) -> Split:
    """Hold out each eligible user's most recent liked item; see the module docstring."""
    by_user: dict[str, list[Event]] = {}
    for e in dedupe(events):
        by_user.setdefault(e.user, []).append(e)

    def enough(_: str, mine: Sequence[Event]) -> bool:
        return sum(1 for e in mine if e.value >= like) >= min_likes

    too_few = sum(1 for user, mine in by_user.items() if not enough(user, mine))
    return hold_out_users(by_user, enough, like, users=len(by_user), too_few_likes=too_few)


def hold_out_users(
    by_user: Mapping[str, list[Event]],
    eligible: Callable[[str, Sequence[Event]], bool],
    like: float,
    *,
    users: int,
    too_few_likes: int,
) -> Split:
    """Hold out the last liked item of each eligible user, in user order.

    A held-out user's events before the cutoff go to training (the rest are withheld); an
    eligible user without a like before it has no case. Other users' events all stay.
    `users` and `too_few_likes` are the split's counts as the caller took them.
    """
    cases: list[Case] = []
    training: list[Event] = []
    no_prior = withheld = 0
    for user in sorted(by_user):
        mine = by_user[user]
        if not eligible(user, mine):
            training.extend(mine)
            continue
        case = hold_out_last_like(user, mine, like)
        if not case.train_likes:
            no_prior += 1
            training.extend(mine)
            continue
        cases.append(case)
        kept = [e for e in mine if e.ts < case.cutoff]
        withheld += len(mine) - len(kept)
        training.extend(kept)
    return Split(
        cases=tuple(cases),
        training=tuple(training),
        users=users,
        too_few_likes=too_few_likes,
        no_prior_like=no_prior,
        withheld=withheld,
    )


def sample(cases: Sequence[Case], n: int | None, seed: int) -> list[Case]:
    """`n` cases drawn with `seed` (all when n is None or too large), in user order."""
    if n is None or n >= len(cases):
        return list(cases)
    chosen = random.Random(seed).sample(range(len(cases)), n)
    return [cases[i] for i in sorted(chosen)]
