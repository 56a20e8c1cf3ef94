"""Offline evaluation (`pgrec eval`): relevance of each recommender on real users and queries.

Users: leave-last-liked-out on MovieLens ratings joined to TMDB 5000 (bench/eval_protocol.py),
run against a database holding the catalog and the training events only (bench/eval_db.py),
for the baselines, the db.recs modes and their RRF hybrids (bench/eval_systems.py). Queries:
the judged set of bench/judged_queries.json for the semantic, terms and hybrid modes.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, make_url, text

from api.fusion import RRF_K, rrf
from bench import eval_db, eval_report
from bench import eval_metrics as m
from bench import eval_protocol as proto
from bench import eval_queries as jq
from bench import eval_systems as systems
from db import migrate, recs
from db.engine import database_url, make_engine, sqlalchemy_url
from db.recs import Filters, Hit
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

    @property
    def stem(self) -> str:
        return "eval-fake" if self.fake_embedder else "eval"


def command(config: EvalConfig) -> str:
    """The command line that reproduces this run (a password in --database-url is masked)."""
    args = ["pgrec", "eval"]
    if config.users is not None:
        args += ["--users", str(config.users)]
    if config.seed:
        args += ["--seed", str(config.seed)]
    if config.fake_embedder:
        args.append("--fake-embedder")
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


def query_modes(conn: Connection, embedder: Embedder) -> dict[str, jq.Mode]:
    """semantic, terms, and hybrid as GET /recommendations fuses it (api/planner.py): RRF of
    semantic, terms and title (title only when it matches), each list as long as the answer.
    """
    pool = m.K

    @functools.cache
    def semantic(query: str) -> list[Hit]:
        vector = embedder.encode([query])[0]
        model = embedder.name
        return systems.db_call(
            conn,
            "semantic",
            lambda: recs.semantic(conn=conn, model=model, vector=vector, k=pool, filters=Filters()),
        )

    @functools.cache
    def terms(query: str) -> list[Hit]:
        return systems.db_call(
            conn,
            "search_terms",
            lambda: recs.search_terms(conn=conn, q=query, k=pool, filters=Filters()),
        )

    def title(query: str) -> list[Hit]:
        return systems.db_call(
            conn,
            "search_title",
            lambda: recs.search_title(conn=conn, q=query, k=pool, filters=Filters()),
        )

    def hybrid(q: jq.JudgedQuery) -> list[int]:
        lists = {"semantic": semantic(q.text), "terms": terms(q.text), "title": title(q.text)}
        if not lists["title"]:
            del lists["title"]
        return [f.item_id for f in rrf(lists)]

    return {
        "semantic": lambda q: [h.item_id for h in semantic(q.text)],
        "terms": lambda q: [h.item_id for h in terms(q.text)],
        "hybrid": hybrid,
    }


def _sources(
    conn: Connection, training: systems.Training, seed: int, ranker: dict[str, Any]
) -> dict[str, systems.Source]:
    """Baselines, each component of the hybrid user mode alone, then the hybrid itself
    (with the fallback weights, then the ranker this run trained, `ranker`)."""
    candidates = systems.Candidates(conn)
    version = ranker.get("version")

    def learned(*, interleave: bool) -> systems.Source:
        if version is None:
            return systems.unavailable(ranker.get("status", "not run: no ranker trained"))
        return systems.user_mode(conn, ranker=version, interleave=interleave)

    return {
        "popularity": systems.popularity(training),
        "random": systems.random_items(training, seed),
        "more-like-these": systems.more_like_these(conn),
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
    eval_db.load_training(conn=conn, events=split.training)
    eval_db.activate_model(conn=conn, name=embedder.name, dim=embedder.dim)
    t0 = time.perf_counter()
    embedded = eval_db.embed_pending(conn=conn, embedder=embedder)
    embed_seconds = time.perf_counter() - t0
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
    cases = proto.sample(split.cases, config.users, config.seed)
    log.info("recommending for %d users", len(cases))
    lists = systems.recommend(cases, _sources(conn, training, config.seed, jobs["ranker"]))
    scores = [systems.score(s, cases, scoring) for s in lists]

    queries = jq.load_queries(config.queries)
    labels = _labels(conn)
    conn.rollback()
    modes = [
        jq.evaluate_mode(name, mode, queries, labels)
        for name, mode in query_modes(conn, embedder).items()
    ]
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
            "rrf_k": RRF_K,
            "query_pool": m.K,
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
        "queries": {
            "file": _shown(config.queries),
            "count": len(queries),
            "modes": [asdict(r) for r in modes],
        },
    }


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
