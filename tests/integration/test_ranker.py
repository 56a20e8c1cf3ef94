"""The ranker job on real data: TMDB movies, the MovieLens ratings of users 1..120, fake vectors.

The catalog, ratings, vectors and co-occurrence are loaded once into a module database and
a model is trained on a clone of it once; tests that change state work on clones of that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from bench import eval_db
from db.engine import job_engine
from jobs.cooccurrence import refresh_cooccurrence
from jobs.embedder import FakeEmbedder
from jobs.ranker import RankerRun, train_ranker
from jobs.ranker_collect import split_history
from jobs.ranker_fit import beats_fallback
from jobs.worker import run_worker
from tests.support.cli import MovieLensDatabase, pgrec, query
from tests.support.databases import engine_for, private_database

USERS = 120
# What training must leave as it was: job_state's own row is the one thing it writes.
TABLES = {
    "interactions": "interactions",
    "item_cooccurrence": "item_cooccurrence",
    "item_stats": "item_stats",
    "job_state": "(SELECT * FROM job_state WHERE job <> 'ranker')",
}


def _digest(url: str) -> dict[str, str]:
    """A checksum of every row of each of TABLES."""
    return {
        name: query(
            url, f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"
        )[0][0]
        for name, t in TABLES.items()
    }


@pytest.fixture(scope="module")
def loaded(movielens_database: MovieLensDatabase) -> Iterator[str]:
    """TMDB catalog, ratings of MovieLens users 1..USERS, fake vectors, co-occurrence."""
    with movielens_database(USERS) as (url, summary):
        assert summary.written and summary.inserted > 10_000
        with engine_for(url) as engine, engine.connect() as conn:
            # Registered with a fake: path, so a worker started on this database loads it.
            conn.execute(
                text(
                    "INSERT INTO embedding_models (name, dim, path)"
                    " VALUES ('fake', 384, 'fake:384')"
                )
            )
            conn.commit()
            eval_db.activate_model(conn=conn, name="fake", dim=384)
            eval_db.embed_pending(conn=conn, embedder=FakeEmbedder())
        refresh_cooccurrence(url=url)
        yield url


@dataclass(frozen=True)
class Trained:
    url: str
    run: RankerRun
    before: dict[str, str]
    after: dict[str, str]
    ranker_state: int


@pytest.fixture(scope="module")
def trained(server_url: str, loaded: str) -> Iterator[Trained]:
    with private_database(server_url, loaded) as url:
        before = _digest(url)
        run = train_ranker(url, seed=0, always_activate=True)
        after = _digest(url)
        state = query(url, "SELECT count(*) FROM job_state WHERE job = 'ranker'")[0][0]
        yield Trained(url, run, before, after, state)


@pytest.fixture
def db(server_url: str, trained: Trained) -> Iterator[str]:
    with private_database(server_url, trained.url) as url:
        yield url


def _for_user(url: str, user: str, ranker: str | None = None) -> list[int]:
    with psycopg.connect(url) as c:
        if ranker is not None:
            c.execute("SELECT set_config('pgrec.ranker', %s, true)", (ranker,))
        rows = c.execute("SELECT item_id FROM rec.for_user(%s, 10)", (user,)).fetchall()
    return [r[0] for r in rows]


def test_training_leaves_the_tables_as_they_were(trained: Trained) -> None:
    assert trained.after == trained.before
    assert trained.ranker_state == 1


def test_the_model_is_stored_active_with_its_counts(trained: Trained) -> None:
    run, url = trained.run, trained.url
    assert not run.unchanged and run.created and run.active
    assert run.version is not None and run.version.startswith("lr-") and len(run.version) == 15
    assert query(url, "SELECT version FROM rec.ranker()") == [(run.version,)]
    t = run.trained_on
    eligible = query(
        url,
        "SELECT count(*) FROM (SELECT user_id FROM (SELECT user_id, item_id,"
        " sum(rec.event_weight(event, value)) p FROM interactions GROUP BY 1, 2) s"
        " WHERE p > 0 GROUP BY 1 HAVING count(*) >= 5) u",
    )[0][0]
    assert 0.9 * eligible <= t["users"] <= eligible and t["users"] >= 100
    assert t["candidates"] > 100 * t["users"] and 0 < t["positives"] <= t["held_out"]
    assert 0 < t["candidate_recall"] <= 1
    p = run.params
    assert len(p["mean"]) == len(p["scale"]) == len(p["coef"]) == 9
    fresh = 8  # constant here (the catalog was loaded at once): its term drops out
    assert p["scale"][fresh] == 0 and p["coef"][fresh] == 0


def test_validation_metrics_are_present_and_better_than_chance(trained: Trained) -> None:
    m = trained.run.metrics
    assert m["validation_users"] + m["fit_users"] == trained.run.trained_on["users"]
    for name in ("model", "fallback", "popularity"):
        assert set(m[name]) == {"auc", "hr@10", "ndcg@10"}
        assert 0 <= m[name]["hr@10"] <= 1 and 0 <= m[name]["ndcg@10"] <= 1
    assert m["model"]["auc"] > 0.5


def test_same_data_and_seed_give_the_same_version(db: str, trained: Trained) -> None:
    again = train_ranker(db, seed=0, force=True, always_activate=True)
    assert (again.version, again.params) == (trained.run.version, trained.run.params)
    assert not again.created and again.active
    assert query(db, "SELECT count(*) FROM ranking_models") == [(1,)]


def test_an_unchanged_run_does_nothing_until_the_interactions_change(db: str) -> None:
    run = train_ranker(db, seed=0)
    assert run.unchanged and run.version is None
    other = train_ranker(db, seed=0, users=10, per_source=50, holdout=0.5, activate=False)
    assert not other.unchanged and other.trained_on["users"] == 10
    assert query(db, "SELECT count(*), count(*) FILTER (WHERE active) FROM ranking_models") == [
        (2, 1)
    ]


def test_activate_and_deactivate_switch_rec_ranker(db: str, trained: Trained) -> None:
    version = str(trained.run.version)
    code, out, _ = pgrec(db, "ranker", "list")
    assert code == 0 and version in out and "yes" in out
    code, out, _ = pgrec(db, "ranker", "deactivate")
    assert code == 0 and version in out
    assert query(db, "SELECT version FROM rec.ranker()") == [("fallback",)]
    code, out, _ = pgrec(db, "ranker", "list")
    assert "no model active" in out
    code, _, err = pgrec(db, "ranker", "activate", "lr-nope")
    assert code == 2 and "lr-nope" in err
    code, _, _ = pgrec(db, "ranker", "activate", version)
    assert code == 0
    assert query(db, "SELECT version FROM rec.ranker()") == [(version,)]


def test_the_model_changes_the_order_of_rec_for_user(trained: Trained) -> None:
    users = [f"ml:{n}" for n in range(1, 21)]
    changed = [
        u for u in users if _for_user(trained.url, u) != _for_user(trained.url, u, "fallback")
    ]
    assert changed


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"holdout": 0.0}, "--holdout"),
        ({"holdout": 1.0}, "--holdout"),
        ({"users": 9}, "--users"),
        ({"per_source": 0}, "--per-source"),
        ({"per_source": 1001}, "--per-source"),
        ({"seed": -1}, "--seed"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        train_ranker("postgresql://nowhere/never", **kwargs)


def test_bad_cli_arguments_and_too_few_users(fresh_db_url: str) -> None:
    code, out, err = pgrec(fresh_db_url, "ranker", "train", "--holdout", "1.5")
    assert (code, out) == (2, "") and "--holdout" in err
    code, out, err = pgrec(fresh_db_url, "ranker", "train")
    assert code == 2
    assert "too few users with enough likes to train (found 0, need 10" in err
    assert query(fresh_db_url, "SELECT count(*) FROM job_state") == [(0,)]


def test_split_history_holds_out_the_latest_likes_and_their_ties() -> None:
    import datetime as dt

    t = [dt.datetime(2020, 1, d, tzinfo=dt.UTC) for d in range(1, 11)]
    likes = [(t[i], 100 + i) for i in range(10)]
    assert split_history(likes, 0.2) == (t[8], {108, 109})
    assert split_history(likes[:5], 0.2) == (t[4], {104})
    tied = [(t[0], 1), (t[1], 2), (t[1], 3), (t[1], 4), (t[2], 5)]
    assert split_history(tied, 0.5) == (t[1], {2, 3, 4, 5})
    assert split_history([(t[0], i) for i in range(5)], 0.2) is None


def test_worker_retrains_after_new_interactions(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as c:
        c.execute(
            "INSERT INTO interactions (user_id, item_id, event)"
            " SELECT 'ml:1', id, 'like' FROM items ORDER BY popularity DESC LIMIT 1"
        )
    before = dict(query(db, "SELECT job, ran_at FROM job_state"))
    engine = job_engine(db)
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        kwargs={"engine": engine, "listen_url": db, "stop": stop, "refresh_every": 3600.0},
    )
    worker.start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            after = dict(query(db, "SELECT job, ran_at FROM job_state"))
            if all(after[j] > before[j] for j in ("cooccurrence", "ranker")):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the worker did not refresh: {before} -> {after}")
    finally:
        stop.set()
        worker.join(30)
        engine.dispose()
    assert query(db, "SELECT count(*) FROM ranking_models WHERE active") == [(1,)]


def test_a_model_worse_than_the_fallback_is_stored_but_not_served(db: str) -> None:
    # The gate serves a model only when its per-user nDCG@10 gain over the fallback weights
    # is above 0 beyond noise (the paired bootstrap interval's low end).
    def gate(low: float, high: float) -> bool:
        return beats_fallback({"ndcg_gain_over_fallback": {"mean": 0.0, "ci95": [low, high]}})

    assert not gate(-0.02, 0.03)  # a noise-size gain is not served
    assert not gate(-0.05, -0.01)
    assert gate(0.004, 0.03)
    assert not beats_fallback({"model": {"ndcg@10": 0.2}, "fallback": {"ndcg@10": 0.1}})
    run = train_ranker(db, seed=3, force=True)
    served = query(db, "SELECT version FROM rec.ranker()")[0][0]
    if beats_fallback(run.metrics):
        assert run.active and served == run.version
    else:
        assert not run.active and served != run.version
