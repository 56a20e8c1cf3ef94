"""Training job of the scoring stage: collect, fit, store and activate a ranking model.

Collecting is jobs/ranker_collect.py, fitting and validating jobs/ranker_fit.py; this
module runs the job (lock, signature check, run record) and activates versions.
Schedule: after `pgrec cooccurrence refresh` (`pgrec worker --refresh-every` runs both); a
run that finds the interactions of the last one does nothing but read their signature.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from db import ranker as store
from db.job_runs import job_state, record_job_state
from jobs import cooccurrence as cooc
from jobs.ranker_collect import Options, collect, signature_of
from jobs.ranker_fit import beats_fallback, fit, validate, version_of
from jobs.runner import exclusive_run, job_connection

log = logging.getLogger(__name__)

JOB = "ranker"
LOCK_SCOPE = "interactions"


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

    With `activate`, the new version serves only if its validation nDCG@10 beats the fallback
    weights' beyond noise (or with `always_activate`): a model that does not clearly rank
    better than the documented fallback is stored for inspection, not served.
    """
    options = Options(seed=seed, users=users, holdout=holdout, per_source=per_source)
    options.check()
    started = time.perf_counter()
    with (
        job_connection(url) as conn,
        exclusive_run(conn, JOB, LOCK_SCOPE),
        # The rolled-back rebuild writes item_cooccurrence too: take turns with the job.
        exclusive_run(conn, cooc.JOB, cooc.LOCK_SCOPE),
    ):
        with conn.begin():
            signature = signature_of(conn, options)
            state = job_state(conn=conn, job=JOB)
        if not force and state is not None and state.signature == signature:
            log.info("ranker unchanged: %s", signature)
            return RankerRun(True, signature, time.perf_counter() - started)
        run = _train(conn, options, activate, always_activate, started)
    log.info("ranker trained: %s (%.1fs) %s", run.version, run.seconds, run.metrics)
    return run


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
        record_job_state(
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
