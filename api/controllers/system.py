"""Operations: /status, /load_models, /health/live, /health/ready, /metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
from litestar import Controller, MediaType, Response, get, post
from litestar.exceptions import ServiceUnavailableException

from api.auth import require_api_key
from api.errors import RETRY_AFTER_SECONDS
from api.params import Injected
from api.runtime import Runtime
from api.schemas import LoadAccepted
from db import catalog, embeddings, job_runs, vectors
from db.ranker import ranker_status


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def status_report(runtime: Runtime) -> dict[str, Any]:
    """Models, snapshot (version, size, staleness), counts, pending embeddings, uptime, and
    the user mode's ranker and last co-occurrence refresh."""
    serving = runtime.serving
    with runtime.connect() as conn:
        active = embeddings.active_model(conn)
        models = embeddings.model_stats(conn=conn)
        counts = catalog.catalog_counts(conn=conn)
        pending = embeddings.pending_embeddings(conn=conn, model=active.name)
        current = vectors.vector_signature(conn=conn, model=active.name, dim=active.dim)
        ranker = ranker_status(conn=conn)
        cooccurrence = job_runs.job_report(conn=conn, job="cooccurrence")
    snapshot: dict[str, Any] | None = None
    if serving is not None:
        snap = serving.snapshot
        snapshot = {
            "version": snap.version,
            "model": snap.model,
            "size": snap.size,
            "built_at": _iso(snap.built_at),
            "age_seconds": round(snap.age(), 3),
            "build_seconds": round(snap.build_seconds, 3),
            "neighbor_lists_k": snap.neighbor_k,
            "stale": current != snap.signature,
            "database_vectors": current.count,
            "listening": runtime.listening,
            "last_check": _iso(runtime.last_check),
        }
    return {
        "ready": serving is not None,
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
        "counts": counts,
        "pending_embeddings": pending,
        "ranker": ranker,
        "cooccurrence": cooccurrence,
        "api_key_required": bool(runtime.settings.api_key),
    }


class SystemController(Controller):
    path = "/"
    tags = ("system",)

    @get("/status", sync_to_thread=True, summary="Service status")
    def status(self, runtime: Injected[Runtime]) -> dict[str, Any]:
        return status_report(runtime)

    @post(
        "/load_models",
        status_code=202,
        guards=[require_api_key],
        summary="Warm up: load the model and build the snapshot in the background",
    )
    async def load_models(self, runtime: Injected[Runtime]) -> LoadAccepted:
        """Returns at once; poll /health/ready."""
        runtime.request_load()
        ready = runtime.ready
        return LoadAccepted(status="ready" if ready else "loading", ready=ready)

    @get("/health/live", summary="Liveness")
    async def live(self) -> dict[str, str]:
        return {"status": "live"}

    @get("/health/ready", summary="Readiness: model and snapshot loaded")
    async def ready(self, runtime: Injected[Runtime]) -> dict[str, Any]:
        serving = runtime.serving
        if serving is None:
            raise ServiceUnavailableException(
                detail="not ready: the model and the vector snapshot are loading"
                + (f" (last attempt failed: {runtime.load_error})" if runtime.load_error else ""),
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return {"status": "ready", "snapshot_version": serving.snapshot.version}

    @get("/metrics", summary="Prometheus metrics", media_type=MediaType.TEXT)
    async def metrics(self, runtime: Injected[Runtime]) -> Response[bytes]:
        serving = runtime.serving
        if serving is not None:
            snap = serving.snapshot
            runtime.metrics.observe_snapshot(
                version=snap.version, size=snap.size, built_at=snap.built_at
            )
        body, content_type = await anyio.to_thread.run_sync(runtime.metrics.render)
        return Response(body, media_type=content_type)
