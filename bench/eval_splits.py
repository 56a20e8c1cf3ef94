"""Honest tuning: judged queries split into a tuning and a report half, users into validation
(their second-to-last liked item) and test (their last liked item).

Everything `pgrec eval` tunes (terms-ranking parameters, hybrid weights, the more-like-these
blend) is chosen on the tuning half or the validation users; the figures it reports come
from the report half and the test users. The query split is drawn once with a fixed seed
and committed (bench/query_split.json), so adding a query never reshuffles the others.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.eval_protocol import LIKE, Event, Split, hold_out_users

DEFAULT_QUERY_SPLIT = Path(__file__).resolve().parent / "query_split.json"
QUERY_SPLIT_SEED = 0


@dataclass(frozen=True)
class QuerySplit:
    seed: int
    tuning: tuple[str, ...]
    report: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"seed": self.seed, "tuning": list(self.tuning), "report": list(self.report)}


def split_queries(ids: Sequence[str], seed: int = QUERY_SPLIT_SEED) -> QuerySplit:
    """Shuffle the ids (sorted first, so input order does not matter) with `seed`; the first
    half (rounded down) tunes, the rest is reported. Each half keeps the sorted order."""
    if len(set(ids)) != len(ids):
        raise ValueError("query ids must be unique")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    return QuerySplit(seed, tuple(sorted(order[:half])), tuple(sorted(order[half:])))


def load_query_split(path: Path, ids: Sequence[str]) -> QuerySplit:
    """The committed split; every query of the judged set must be in exactly one half."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    found = QuerySplit(int(doc["seed"]), tuple(doc["tuning"]), tuple(doc["report"]))
    tuning, report = set(found.tuning), set(found.report)
    if tuning & report:
        raise ValueError(f"{path}: in both halves: {sorted(tuning & report)}")
    unknown = (tuning | report) - set(ids)
    missing = set(ids) - tuning - report
    if unknown or missing:
        raise ValueError(
            f"{path}: does not match the judged queries (missing {sorted(missing)}, "
            f"unknown {sorted(unknown)}); assign new queries to a half by hand"
        )
    return found


def validation_split(test: Split, *, like: float = LIKE) -> Split:
    """The validation protocol from the test one: each test user's training events, with
    their last liked item (the user's second-to-last overall) held out the same way.

    Training for validation drops, for those users, everything at or after that item's
    time; other users' training events stay. A test user without a liked item before it
    has no validation case (their training events all stay).
    """
    tested = {c.user for c in test.cases}
    by_user: dict[str, list[Event]] = {}
    for e in test.training:
        by_user.setdefault(e.user, []).append(e)
    return hold_out_users(
        by_user,
        lambda user, mine: user in tested and any(e.value >= like for e in mine),
        like,
        users=test.users,
        too_few_likes=test.too_few_likes,
    )
