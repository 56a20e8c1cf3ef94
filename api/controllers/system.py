"""Operations: /status, /load_models, /health/live, /health/ready, /metrics."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import anyio
from litestar import Controller, MediaType, Response, get, post
from litestar.exceptions import ServiceUnavailableException
from litestar.params import QueryParameter

from api.auth import require_api_key, require_read_key
from api.contract import READ, errors
from api.errors import RETRY_AFTER_SECONDS, BadParameter
from api.params import Injected
from api.runtime import Runtime
from api.schemas import LoadAccepted
from db import catalog, embeddings, job_runs
from db.job_runs import runs_summary
from db.ranker import ranker_status


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _read_model(runtime: Runtime) -> dict[str, Any] | None:
    view = runtime.view
    if view is None:
        return None
    meta = view.base.meta
    return {
        "version": view.version,
        "model": view.model,
        "size": view.size,
        "items": meta.items,
        "built_at": _iso(view.built_at),
        "age_seconds": round(view.age(), 3),
        "build_seconds": round(view.build_seconds, 3),
        "neighbor_lists_k": view.neighbor_k,
        "index": meta.index_kind,
        "overlay_items": len(view.overlay),
        "changes_applied": view.overlay.changes,
        "stale": runtime.stale,
        "listening": runtime.listening,
        "database_up": runtime.database_up,
        "last_check": _iso(runtime.last_check),
    }


def modes_up(runtime: Runtime) -> dict[str, bool]:
    """Which modes can answer now: read-model modes need the view (semantic the model too),
    the others Postgres."""
    view, serving, db = runtime.view, runtime.serving, runtime.database_up
    encoder = view is not None and serving is not None and serving.model.name == view.model
    return {
        "similar": view is not None,
        "more_like": view is not None,
        "semantic": encoder,
        "filtered": db and encoder,
        "terms": db,
        "title": db,
        "hybrid": db and encoder,
        "user": db,
        "writes": db,
    }


MODES = (
    "similar",
    "more_like",
    "semantic",
    "filtered",
    "terms",
    "title",
    "hybrid",
    "user",
    "writes",
)


def required_modes(values: list[str] | None) -> list[str]:
    """`require`'s modes (repeated or comma-separated), each one of MODES, in order, once."""
    wanted: list[str] = []
    for value in values or ():
        for mode in (part.strip() for part in value.split(",")):
            if not mode:  # `?require=` or a trailing comma (a templated probe): nothing
                continue
            if mode not in MODES:
                raise BadParameter("require", f"unknown mode {mode!r} (one of {', '.join(MODES)})")
            if mode not in wanted:
                wanted.append(mode)
    return wanted


def status_report(runtime: Runtime) -> dict[str, Any]:
    """Models, read model (version, size, overlay, staleness), counts, pending embeddings,
    uptime, and the user mode's ranker and last co-occurrence refresh."""
    serving = runtime.serving
    with runtime.connect() as conn:
        active = embeddings.active_model(conn)
        models = embeddings.model_stats(conn=conn)
        counts = catalog.catalog_counts(conn=conn)
        pending = embeddings.pending_embeddings(conn=conn, model=active.name)
        ranker = ranker_status(conn=conn)
        cooccurrence = job_runs.job_report(conn=conn, job="cooccurrence")
        jobs = runs_summary(conn)
    snapshot = _read_model(runtime)
    return {
        "ready": runtime.view is not None,
        "lazy": runtime.lazy,
        "uptime_seconds": round(runtime.uptime, 3),
        "started_at": _iso(runtime.started_at),
        "load_error": runtime.load_error,
        "embedder": None
        if serving is None
        else {
            "name": serving.embedder.name,
            "dim": serving.embedder.dim,
            "model": serving.model.name,
            "query_cache": {
                "hits": serving.encoder.hits,
                "misses": serving.encoder.misses,
                "capacity": serving.encoder.cache_size,
            },
        },
        "active_model": active.name,
        "models": models,
        "snapshot": snapshot,
        "modes": modes_up(runtime),
        "counts": counts,
        "pending_embeddings": pending,
        "ranker": ranker,
        "cooccurrence": cooccurrence,
        "jobs": jobs,
        "api_key_required": bool(runtime.settings.write_keys),
        "read_key_required": bool(runtime.settings.read_keys),
        "routing": runtime.router.status(),
    }


class SystemController(Controller):
    path = "/"
    tags = ("system",)

    @get("/health/live", summary="Liveness")
    async def live(self) -> dict[str, str]:
        return {"status": "live"}

    @get(
        "/health/ready",
        summary="Readiness: which modes can answer now",
        responses=errors(400, 503),
    )
    async def ready(
        self,
        runtime: Injected[Runtime],
        require: Annotated[
            list[str] | None,
            QueryParameter(
                description="Modes that must be up for a 200 (repeat or comma), e.g. "
                f"`semantic,terms`; one of {', '.join(MODES)}. Without it: 200 once the "
                "read model serves."
            ),
        ] = None,
    ) -> dict[str, Any]:
        """200 once the read model serves (`modes` says which modes are up: while Postgres
        is unreachable only the read-model modes are, and `stale` is true); 503 before.
        With `require`, 503 until every mode it names is up: a load balancer that routes
        semantic queries asks `?require=semantic` and never sends one to a worker whose
        query encoder is still loading."""
        wanted = required_modes(require)
        view = runtime.view
        if view is None:
            raise ServiceUnavailableException(
                detail="not ready: the read model is loading"
                + (f" (last attempt failed: {runtime.load_error})" if runtime.load_error else ""),
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        modes = modes_up(runtime)
        down = [mode for mode in wanted if not modes[mode]]
        if down:
            raise ServiceUnavailableException(
                detail=f"not ready: {', '.join(down)} not up",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                extra={"modes": modes, "database": "up" if runtime.database_up else "down"},
            )
        return {
            "status": "ready" if runtime.database_up else "degraded",
            "snapshot_version": view.version,
            "stale": runtime.stale,
            "database": "up" if runtime.database_up else "down",
            "modes": modes,
        }

    @get(
        "/status",
        sync_to_thread=True,
        guards=[require_read_key],
        summary="Service status",
        responses=errors(*READ),
    )
    def status(self, runtime: Injected[Runtime]) -> dict[str, Any]:
        return status_report(runtime)

    @post(
        "/load_models",
        status_code=202,
        guards=[require_api_key],
        summary="Warm up: load the model and build the snapshot in the background",
        responses=errors(401, 429),
    )
    async def load_models(self, runtime: Injected[Runtime]) -> LoadAccepted:
        """Returns at once; poll /health/ready."""
        runtime.request_load()
        ready = runtime.ready
        return LoadAccepted(status="ready" if ready else "loading", ready=ready)

    @get("/metrics", summary="Prometheus metrics", media_type=MediaType.TEXT)
    async def metrics(self, runtime: Injected[Runtime]) -> Response[bytes]:
        view = runtime.view
        if view is not None:
            runtime.metrics.observe_snapshot(
                version=view.version, size=view.size, built_at=view.built_at
            )
        body, content_type = await anyio.to_thread.run_sync(runtime.metrics.render)
        return Response(body, media_type=content_type)
