"""Replica routing in the API: the X-Pgrec-LSN header both ways, routing metrics, the router.

A write answers with `X-Pgrec-LSN: <commit LSN>`; a read that sends it back is served by a
replica only once that replica has replayed to it (db/router.py), else by the primary.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge
from sqlalchemy import Engine

from api.errors import send_error
from api.metrics import Metrics
from db.router import LSN_SINK, REQUEST_LSN, LsnSink, Router, format_lsn, parse_lsn
from db.settings import Settings

LSN_HEADER = "X-Pgrec-LSN"
_LSN_HEADER_KEY = LSN_HEADER.lower().encode()


def replica_urls(settings: Settings) -> list[str]:
    return [u.strip() for u in settings.database_replica_urls.split(",") if u.strip()]


def build_router(settings: Settings, primary: Engine, metrics: Metrics) -> Router:
    """The router over DATABASE_REPLICA_URLS, reporting to this app's Prometheus registry."""
    reads = Counter(
        "pgrec_db_reads",
        "Read connections handed out, by target (primary or replicaN) and reason.",
        ["target", "reason"],
        registry=metrics.registry,
    )
    lag = Gauge(
        "pgrec_replica_lag_bytes",
        "WAL bytes a replica is behind the primary (at its last health check).",
        ["replica"],
        registry=metrics.registry,
        multiprocess_mode="livemax",
    )
    usable = Gauge(
        "pgrec_replica_usable",
        "1 when a replica answers, is in recovery and lags within the bound.",
        ["replica"],
        registry=metrics.registry,
        multiprocess_mode="livemin",
    )

    def on_route(target: str, reason: str) -> None:
        reads.labels(target, reason).inc()

    def on_health(name: str, ok: bool, lag_bytes: int | None) -> None:
        usable.labels(name).set(1 if ok else 0)
        if lag_bytes is not None:
            lag.labels(name).set(lag_bytes)

    return Router.from_urls(
        primary,
        replica_urls(settings),
        max_lag_bytes=settings.replica_max_lag_bytes,
        on_route=on_route,
        on_health=on_health,
    )


def lsn_middleware(app: ASGIApp) -> ASGIApp:
    """Read the client's X-Pgrec-LSN (read-your-writes); answer a write's commit LSN."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        wanted = None
        for key, value in scope.get("headers", ()):
            if key == _LSN_HEADER_KEY:
                try:
                    wanted = parse_lsn(value.decode("latin-1"))
                except ValueError as err:
                    await send_error(send, 400, f"{LSN_HEADER}: {err}")
                    return
        sink = LsnSink()
        lsn_token = REQUEST_LSN.set(wanted)
        sink_token = LSN_SINK.set(sink)

        async def send_lsn(message: Message) -> None:
            if message["type"] == "http.response.start" and sink.lsn is not None:
                headers = list(message.get("headers", ()))
                headers.append((_LSN_HEADER_KEY, format_lsn(sink.lsn).encode()))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_lsn)
        finally:
            REQUEST_LSN.reset(lsn_token)
            LSN_SINK.reset(sink_token)

    return middleware
