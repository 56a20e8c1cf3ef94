"""`pgrec eval` end to end on a tiny synthetic catalog whose answers are known by hand.

Catalog: movies 1-8 and fillers 11-30 (tmdb id = 100 + movieId). Ratings (movie: stars @ t):
  user 1: 1:5@100 2:4@200 3:4.5@300 4:4@400 5:5@500 6:4@600 (+ two unmapped ratings)
  user 2: 1:4@100 2:4@200 3:4@300 7:4@400 8:2@450 6:5@500 4:3@600
  user 3: 1:5@100 2:5@200 4:5@300 7:4@400 30:4.5@500
  user 4: 6:5@100 8:5@200 5:4@300 (three likes: training data only)
Held out: 6 for users 1 and 2, 30 for user 3. Training likes: 1 and 2 x3; 3, 4, 5, 7 x2;
8 x1 (two raters); 6 x1 (one rater); fillers none. So popularity ranks 1 2 3 4 5 7 8 6 11..
and, skipping each user's training items: user 1 gets 7 8 [6] (rank 3), user 2 gets 4 5 [6]
(rank 3), user 3 gets 3 5 8 6 11..16 (30 missed): HR@10 = 2/3, nDCG@10 = (0.5 + 0.5)/3.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from bench.eval import USER_MODE, EvalConfig, run
from db import recs
from db.engine import make_engine
from db.recs import Filters, Hit, MoreLike
from pgrec import cmd_eval

TMDB_HEADER = [
    "budget", "genres", "homepage", "id", "keywords", "original_language", "original_title",
    "overview", "popularity", "production_companies", "production_countries", "release_date",
    "revenue", "runtime", "spoken_languages", "status", "tagline", "title", "vote_average",
    "vote_count",
]  # fmt: skip
MOVIES = [*range(1, 9), *range(11, 31)]
RATINGS = {
    1: [(1, 5.0, 100), (2, 4.0, 200), (3, 4.5, 300), (4, 4.0, 400), (5, 5.0, 500), (6, 4.0, 600)],
    2: [(1, 4.0, 100), (2, 4.0, 200), (3, 4.0, 300), (7, 4.0, 400), (8, 2.0, 450), (6, 5.0, 500)],
    3: [(1, 5.0, 100), (2, 5.0, 200), (4, 5.0, 300), (7, 4.0, 400), (30, 4.5, 500)],
    4: [(6, 5.0, 100), (8, 5.0, 200), (5, 4.0, 300)],
}
RATINGS[2].append((4, 3.0, 600))  # rated after the held-out one: withheld
HELD_OUT = {"ml:1": 106, "ml:2": 106, "ml:3": 130}  # tmdb ids
QUERIES = {
    "queries": [
        {"id": "space", "text": "space", "genres": ["Science Fiction"], "keywords": ["space"]}
    ]
}


def _movie(movie: int) -> dict[str, str]:
    scifi = movie % 3 == 0
    genres = [{"id": 878, "name": "Science Fiction"}] if scifi else [{"id": 35, "name": "Comedy"}]
    keywords = [{"id": 9882, "name": "space"}] if scifi else [{"id": 1, "name": "dog"}]
    row = dict.fromkeys(TMDB_HEADER, "")
    row.update(
        id=str(100 + movie),
        title=f"Movie {movie}",
        original_title=f"Movie {movie}",
        overview=f"A {'space' if scifi else 'dog'} story number {movie}.",
        genres=json.dumps(genres),
        keywords=json.dumps(keywords),
        production_companies="[]",
        production_countries="[]",
        spoken_languages="[]",
        release_date="2001-01-01",
        popularity="1.0",
        original_language="en",
        status="Released",
    )
    return row


def write_data(root: Path) -> Path:
    tmdb = root / "tmdb_5000_movies"
    ml = root / "movielens_ml-latest-small"
    tmdb.mkdir(parents=True)
    ml.mkdir()
    with (tmdb / "tmdb_5000_movies.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=TMDB_HEADER)
        w.writeheader()
        w.writerows(_movie(m) for m in MOVIES)
    with (ml / "links.csv").open("w", newline="", encoding="utf-8") as f:
        f.write("movieId,imdbId,tmdbId\n")
        f.writelines(f"{m},{m:07d},{100 + m}\n" for m in MOVIES)
        f.write("9,0000009,\n10,0000010,999\n")  # no tmdbId; not in the catalog
    with (ml / "ratings.csv").open("w", newline="", encoding="utf-8") as f:
        f.write("userId,movieId,rating,timestamp\n")
        for user, rows in RATINGS.items():
            f.writelines(f"{user},{m},{v},{t}\n" for m, v, t in rows)
        f.write("1,9,5.0,150\n1,10,4.0,160\n")
    (root / "queries.json").write_text(json.dumps(QUERIES), encoding="utf-8")
    return root


def _one(url: str, sql: str, **params: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return list(c.execute(text(sql), params).all())
    finally:
        engine.dispose()


class Recorder:
    """Stands in for the db.recs user modes: returns the whole catalog, records what it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, tuple[int, ...], Filters]] = []

    def _catalog(self, conn: Connection) -> list[Hit]:
        ids = conn.execute(text("SELECT id FROM items ORDER BY id")).scalars()
        return [Hit(int(i), 1.0) for i in ids]

    def for_user(self, *, conn: Connection, user_id: str, k: int, filters: Filters) -> list[Hit]:
        self.calls.append(("user", user_id, (), filters))
        return self._catalog(conn)[:k]

    def more_like(
        self,
        *,
        conn: Connection,
        positive: Sequence[int],
        negative: Sequence[int],
        weights: Any,
        k: int,
        filters: Filters,
    ) -> MoreLike:
        self.calls.append(("mlt", None, tuple(positive), filters))
        return MoreLike(self._catalog(conn)[:k], [])


def test_protocol_has_no_leakage_and_popularity_scores_as_computed_by_hand(
    tmp_path: Path, fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_data(tmp_path / "data")
    recorder = Recorder()
    monkeypatch.setattr(recs, "for_user", recorder.for_user)
    monkeypatch.setattr(recs, "more_like", recorder.more_like)
    config = EvalConfig(
        data_dir=data,
        fake_embedder=True,
        out=tmp_path / "out",
        database_url=fresh_db_url,
        queries=data / "queries.json",
    )
    report = run(config)

    ids = _one(fresh_db_url, "SELECT external_id, id FROM items ORDER BY id")
    assert [r.external_id for r in ids] == [f"tmdb:{100 + m}" for m in MOVIES]  # id order
    item = {int(r.external_id.removeprefix("tmdb:")): int(r.id) for r in ids}
    p = report["protocol"]
    assert (p["users_with_ratings"], p["too_few_likes"], p["eligible_users"]) == (4, 1, 3)
    assert (p["ratings_mapped"], p["ratings_unmapped"], p["withheld_events"]) == (21, 2, 4)
    assert (p["training_events"], p["catalog_items"]) == (17, len(MOVIES))

    # No leakage: the database holds nothing of a user at or after the held-out rating.
    for user, tmdb in HELD_OUT.items():
        rows = _one(
            fresh_db_url,
            "SELECT item_id, extract(epoch FROM occurred_at)::bigint AS ts"
            " FROM interactions WHERE user_id = :u",
            u=user,
        )
        cutoff = next(t for m, _, t in RATINGS[int(user[3:])] if 100 + m == tmdb)
        assert rows and all(r.ts < cutoff for r in rows)
        assert item[tmdb] not in {r.item_id for r in rows}
    assert _one(fresh_db_url, "SELECT count(*) AS n FROM interactions")[0].n == 17

    # The modes were asked with exactly the training items excluded, never the held-out one.
    by_user = "SELECT item_id FROM interactions WHERE user_id = :u"
    trained = {u: {r.item_id for r in _one(fresh_db_url, by_user, u=u)} for u in HELD_OUT}
    # Per user: the user mode as each of its rows asks (fallback weights; the learned-ranker
    # rows do not run: 3 users are too few to train one); more-like-these for the blend and
    # the centroid-only row, and for the validation grid (every seed size) before them.
    assert sum(1 for c in recorder.calls if c[0] == "user") == 3
    assert sum(1 for c in recorder.calls if c[0] == "mlt") >= 3 * 2
    for mode, who, positive, filters in recorder.calls:
        if mode == "user":
            assert who is not None
            assert set(filters.exclude_ids) == trained[who]
            assert item[HELD_OUT[who]] not in filters.exclude_ids
        else:
            assert item[106] not in positive and item[130] not in positive

    systems = {s["name"]: s for s in report["systems"]}
    pop = systems["popularity"]
    assert pop["users"] == 3
    assert pop["hr"] == pytest.approx(2 / 3)
    assert pop["ndcg"] == pytest.approx(1 / 3)
    # The stand-in returns the catalog in id order: training items are dropped (and counted),
    # the held-out item is kept. User 1 (1-5 trained) gets [6] 7 8 11..; user 2 gets 4 5 [6]..;
    # user 3 gets 3 5 6 8 11..16 (30 is missed).
    user_mode = systems["user: hybrid, fallback weights"]
    assert user_mode["hr"] == pytest.approx(2 / 3)
    assert user_mode["ndcg"] == pytest.approx((1.0 + 0.5) / 3)
    assert user_mode["returned_excluded"] == 5 + 5 + 4
    assert systems["random"]["users"] == 3
    assert systems["hybrid: more-like-these + popularity"]["status"] == "ok"
    assert systems[USER_MODE]["status"].startswith("not run: ranker not trained: too few users")
    for component in ("co-occurrence", "interests", "popular (rec.popular)"):
        assert systems[component]["status"] == "ok", systems[component]
    assert report["jobs"]["cooccurrence"]["stats"]["users"] == 4
    assert (tmp_path / "out" / "eval-fake.json").is_file()
    assert (tmp_path / "out" / "eval-fake.md").read_text().count("| popularity |") == 1


def test_cli_prints_the_tables(
    tmp_path: Path, fresh_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_data(tmp_path / "data")
    parser = argparse.ArgumentParser(prog="pgrec")
    cmd_eval.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    paths = ["--data-dir", str(data), "--out", str(out), "--queries", str(data / "queries.json")]
    args = parser.parse_args(
        ["eval", "--fake-embedder", "--users", "2", *paths, "--database-url", fresh_db_url]
    )
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("system"))
    assert header.split() == ["system", "HR@10", "nDCG@10", "coverage", "ILD", "novelty", "users"]
    pop = next(line for line in printed.splitlines() if line.startswith("popularity"))
    assert pop.split()[-1] == "2"
    assert "mode" in printed and "P@10" in printed
    assert "reproduce: pgrec eval --users 2 --fake-embedder" in printed
    assert "machine: " in printed
    report = json.loads((out / "eval-fake.json").read_text())
    assert report["protocol"]["evaluated_users"] == 2
