"""Prometheus metrics: request latency per route and mode, snapshot version, size and age.

Each app gets its own registry (several apps in one test process must not collide). With
`pgrec serve --workers N` the CLI sets PROMETHEUS_MULTIPROC_DIR, the values live in shared
files and `/metrics` aggregates every worker; gauges then report the stalest live worker.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MODE_STATE_KEY = "pgrec_mode"


# How /metrics combines the workers' values of a gauge (live*: of the workers still alive).
GaugeMode = Literal["livemin", "livemax", "livesum", "max"]


def counter(
    registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...] = ()
) -> Counter:
    return Counter(name, doc, list(labels), registry=registry)


def gauge(
    registry: CollectorRegistry, name: str, doc: str, mode: GaugeMode, labels: tuple[str, ...] = ()
) -> Gauge:
    return Gauge(name, doc, list(labels), registry=registry, multiprocess_mode=mode)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self) -> None:
        # prometheus_client picks file-backed values at import time when the variable is set;
        # aggregate only when that happened (not when the variable appeared afterwards).
        self.multiprocess = values.ValueClass is not values.MutexValue and bool(multiprocess_dir())
        self.registry = CollectorRegistry()
        reg = self.registry
        self.latency = Histogram(
            "pgrec_request_duration_seconds",
            "HTTP request latency by route template, method and retrieval mode.",
            ["route", "method", "mode"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.requests = counter(
            reg,
            "pgrec_requests",
            "HTTP requests by route template, method, mode and status code.",
            ("route", "method", "mode", "status"),
        )
        self.snapshot_version = gauge(
            reg, "pgrec_snapshot_version", "Version of the FAISS snapshot being served.", "livemin"
        )
        self.snapshot_size = gauge(
            reg, "pgrec_snapshot_items", "Vectors in the FAISS snapshot being served.", "livemin"
        )
        self.snapshot_age = gauge(
            reg,
            "pgrec_snapshot_age_seconds",
            "Seconds since the served FAISS snapshot was built.",
            "livemax",
        )
        self.snapshot_builds = Histogram(
            "pgrec_snapshot_build_seconds",
            "Time to load vectors and build a FAISS snapshot.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=reg,
        )
        self.slot_wait = Histogram(
            "pgrec_query_slot_wait_seconds",
            "How long filtered semantic, terms, title and hybrid queries waited for one of the "
            "worker's Postgres slots (PGREC_QUERY_SLOTS); after 2 s they answer 503.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
            registry=reg,
        )
        self.ready = gauge(
            reg, "pgrec_ready", "1 when the model and the snapshot are loaded.", "livemin"
        )

    def observe_request(
        self, *, route: str, method: str, mode: str, status: int, seconds: float
    ) -> None:
        self.latency.labels(route, method, mode).observe(seconds)
        self.requests.labels(route, method, mode, str(status)).inc()

    def observe_snapshot(
        self, *, version: int, size: int, built_at: float, now: float | None = None
    ) -> None:
        self.snapshot_version.set(version)
        self.snapshot_size.set(size)
        self.snapshot_age.set(max(0.0, (time.time() if now is None else now) - built_at))
        self.ready.set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition text: this app's registry, or every worker's in multiprocess mode."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Forget this worker's live gauges (multiprocess mode) when it shuts down."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware timing each HTTP request; the handler may set the mode label."""

        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                state: dict[str, Any] = scope.get("state") or {}
                self.observe_request(
                    route=scope.get("path_template") or "unmatched",
                    method=str(scope.get("method", "")),
                    mode=str(state.get(MODE_STATE_KEY, "")),
                    status=status,
                    seconds=time.perf_counter() - started,
                )

        return timed
