"""The user mode's collaborative lists tuned in-process on the validation users only.

`python -m bench.eval_lists_grid` builds item_collaborative's weights (jobs/ease.py) from
the validation training events (bench/eval_splits.validation_split: each test user's
second-to-last liked item held out, no event at or after it) for each grid point, scores
every validation user as rec.user_candidates' `cooc` feature does (the 20 most recent items,
0.9^position, halved when not liked; the served fallback's net popularity weight -0.002)
and prints HR@10, nDCG@10 and coverage@10 per point. No database, no model, seconds a point:
the loop for choosing the lists' constants. The test users' held-out items are never read.
Item ids are TMDB ids here (ties may break differently than in the database).
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from bench import eval_metrics as m
from bench import eval_protocol as proto
from bench import eval_splits as splits
from bench.eval_db import tmdb_ids
from db.cooccurrence import Preferences
from jobs import ease

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # as `pgrec eval`
RECENT, DECAY, NOT_LIKED, POP = 20, 0.9, 0.5, -0.002  # rec.user_candidates (0011) + fallback
GRID = {"pop_exponent": (0.0, 0.1), "window": (2, 3, 5), "weight": (0.0, 0.3, 1.0, 3.0)}


def rating_weight(value: float) -> float:
    """rec.event_weight of a rating."""
    return 3 * (min(max(value, 0.0), 5.0) - 2.5) / 2.5


@dataclass(frozen=True)
class Validation:
    cases: list[proto.Case]
    events: dict[str, list[proto.Event]]  # each user's training events, newest first
    ids: np.ndarray  # catalog ids, sorted
    x: sparse.csr_array
    item_ids: np.ndarray  # the EASE columns
    sequences: ease.Sequences
    preference: np.ndarray  # item_stats.preference per catalog id


def load(data_dir: Path) -> Validation:
    """The validation side of `pgrec eval`'s protocol, every evaluated user."""
    paths = proto.DataPaths.under(data_dir)
    ids = np.array(sorted(tmdb_ids(paths.tmdb)), dtype=np.int64)
    events, _ = proto.read_events(paths, {int(i): int(i) for i in ids})
    test = proto.split(events)
    val = splits.validation_split(test)
    tested = {c.user for c in test.cases}
    per: dict[tuple[str, int], float] = {}
    for e in val.training:
        per[e.user, e.item] = per.get((e.user, e.item), 0.0) + rating_weight(e.value)
    users = {u: n for n, u in enumerate(sorted({u for u, _ in per}))}
    keys = [k for k, p in per.items() if p > 0]
    prefs = Preferences(
        users=np.array([users[u] for u, _ in keys], dtype=np.int64),
        item_ids=np.array([i for _, i in keys], dtype=np.int64),
        values=np.array([per[k] for k in keys]),
    )
    x, item_ids = ease.binary_matrix(prefs, ease.MAX_ITEMS)
    order = sorted(val.training, key=lambda e: (e.user, e.ts, e.item))
    sequences = (
        np.array([users[e.user] for e in order], dtype=np.int64),
        np.array([e.item for e in order], dtype=np.int64),
        np.array([rating_weight(e.value) for e in order]),
    )
    preference = np.zeros(len(ids))
    np.add.at(preference, np.searchsorted(ids, prefs.item_ids), prefs.values)
    by_user: dict[str, list[proto.Event]] = {}
    for e in sorted(val.training, key=lambda e: (e.ts, e.item), reverse=True):
        by_user.setdefault(e.user, []).append(e)
    cases = [c for c in val.cases if c.user in tested]
    return Validation(cases, by_user, ids, x, item_ids, sequences, preference)


def top10(v: Validation, lists: np.ndarray, case: proto.Case) -> list[int]:
    """The case's first ten by the `cooc` feature (lists: EASE columns' rows, truncated)."""
    weights = np.zeros(len(v.item_ids))
    cols = ease.columns_of(v.item_ids, np.array([e.item for e in v.events[case.user][:RECENT]]))
    for n, (e, c) in enumerate(zip(v.events[case.user], cols, strict=False)):
        if c >= 0:
            weights[c] += DECAY**n * (1.0 if rating_weight(e.value) >= 1.5 else NOT_LIKED)
    total = np.maximum(weights @ lists, 0.0)
    pop = np.log1p(v.preference)
    score = -POP * pop  # outside the lists: the fallback's popularity weight alone
    at = np.searchsorted(v.ids, v.item_ids[total > 0])
    score[at] = np.log1p(total[total > 0]) + POP * pop[at]
    score[np.searchsorted(v.ids, [e.item for e in v.events[case.user]])] = -np.inf
    return [int(v.ids[i]) for i in np.argsort(-score, kind="stable")[: m.K]]


def evaluate(v: Validation, **params: float) -> dict[str, float]:
    """HR@10, nDCG@10 and coverage@10 of the lists built with `params` (jobs/ease.py's)."""
    b = ease.list_weights(
        v.x, v.item_ids, v.sequences, pop_exponent=params["pop_exponent"],
        window=int(params["window"]), weight=params["weight"],
    )  # fmt: skip
    rows, _, cols, scores = ease.top_rows(b, ease.K)
    lists = np.zeros_like(b)
    lists[rows, cols] = scores
    tops = [top10(v, lists, c) for c in v.cases]
    held = [c.held_out for c in v.cases]
    return {
        "hr": m.mean(map(m.hit_rate, tops, held)) or 0.0,
        "ndcg": m.mean(map(m.ndcg_single, tops, held)) or 0.0,
        "coverage": m.coverage(tops, len(v.ids)),
    }


def main(argv: Sequence[str] = ()) -> None:
    """Every grid point's validation figures as JSON lines, then the argmax (HR, then nDCG)."""
    v = load(Path(argv[0]) if argv else DEFAULT_DATA)
    rows = []
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values, strict=True))
        rows.append({**params, **evaluate(v, **params), "users": len(v.cases)})
        print(json.dumps(rows[-1]), flush=True)
    print("chosen:", json.dumps(max(rows, key=lambda r: (r["hr"], r["ndcg"]))))


if __name__ == "__main__":
    main(sys.argv[1:])
