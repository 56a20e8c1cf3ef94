"""Impressions: a request id on every response, and a record of every list served.

Recording stays off the hot path: a handler only appends a row to a bounded in-memory
queue (a full queue drops the row and counts it: a request never fails or waits for it);
a background task drains the queue every half second with one COPY per batch and, less
often, re-reads the online metrics (CTR, coverage, diversity) into the /metrics gauges.
`serve()` is the one call a list endpoint makes: it picks the A/B variant, lets the
planner answer with the variant's options, stamps the page and queues the impression.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from litestar import Litestar, Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from msgspec import UNSET
from sqlalchemy import Engine

from api.background import running
from api.online_metrics import OnlineMetrics
from api.params import ListOptions, check_text
from api.runtime import Runtime
from api.schemas import Page
from api.timeline import Timeline
from api.variants import Variant, Variants, parse_variants
from db.impressions import ImpressionRow, write_impressions

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "pgrec_request_id"
HEADER = b"x-request-id"
STATE_KEY = "online"
BATCH = 5000  # rows per COPY
DRAIN_SECONDS = 0.5
UNTIMED = ("/console", "/metrics", "/health")  # not API traffic: kept out of the timeline


class Recorder:
    """A bounded queue of impressions; `flush` writes it out (from a worker thread)."""

    def __init__(self, *, capacity: int, enabled: bool, metrics: OnlineMetrics) -> None:
        self.capacity = capacity
        self.enabled = enabled
        self.metrics = metrics
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self._rows: list[ImpressionRow] = []
        self._lock = threading.Lock()

    def offer(self, row: ImpressionRow) -> bool:
        """Queue a row; False (and counted) when recording is off or the queue is full."""
        if not self.enabled:
            return False
        with self._lock:
            if len(self._rows) >= self.capacity:
                self.dropped += 1
                self.metrics.dropped.inc()
                return False
            self._rows.append(row)
        return True

    @property
    def depth(self) -> int:
        return len(self._rows)

    def _take(self) -> list[ImpressionRow]:
        with self._lock:
            rows, self._rows = self._rows[:BATCH], self._rows[BATCH:]
        return rows

    def flush(self, engine: Engine) -> int:
        """Write everything queued so far, a batch per COPY; a failed batch is counted, lost."""
        total = 0
        while rows := self._take():
            try:
                total += write_impressions(engine=engine, rows=rows)
            except Exception:
                self.failed += len(rows)
                self.metrics.failed.inc(len(rows))
                log.exception("could not write %d impressions (dropped)", len(rows))
        self.written += total
        self.metrics.written.inc(total)
        self.metrics.queue_depth.set(self.depth)
        return total


class Online:
    """Per app: the variants, the impression recorder, the online gauges and the timeline."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.variants: Variants = parse_variants(settings.variants)
        self.metrics = OnlineMetrics(runtime.metrics.registry)
        self.recorder = Recorder(
            capacity=settings.impression_queue, enabled=settings.impressions, metrics=self.metrics
        )
        self.timeline = Timeline()
        self.window = dt.timedelta(hours=settings.online_window_hours)
        self.refresh_seconds = settings.online_refresh_seconds

    # -- the hook in list endpoints ----------------------------------------------------------

    def choose(
        self, request: Request[Any, Any, Any], options: ListOptions, user_id: str | None
    ) -> tuple[str, Variant, ListOptions]:
        """The request id, its variant and the options that variant makes of `options`."""
        request_id = request_id_of(request)
        name = request.query_params.get("variant")
        if name is not None:
            variant = self.variants.named(check_text("variant", name.strip()))
        else:
            variant = self.variants.assign(user_id or request_id)
        return request_id, variant, variant.apply(options, list(request.query_params))

    def record(self, page: Page, request_id: str, variant: Variant, user_id: str | None) -> Page:
        """Stamp the page with its request id and variant, and queue its impression."""
        page.request_id = request_id
        page.variant = variant.name
        self.metrics.served.labels(page.mode, variant.name).inc()
        self.recorder.offer(
            ImpressionRow(
                request_id=request_id,
                served_at=dt.datetime.now(dt.UTC),
                user_id=user_id,
                mode=page.mode,
                variant=variant.name,
                ranker=None if page.ranker is UNSET else str(page.ranker),
                snapshot_version=page.snapshot_version,
                item_ids=tuple(r.id for r in page.results),
            )
        )
        return page

    def serve(
        self,
        request: Request[Any, Any, Any],
        options: ListOptions,
        user_id: str | None,
        produce: Callable[[ListOptions], Page],
    ) -> Page:
        request_id, variant, opts = self.choose(request, options, user_id)
        return self.record(produce(opts), request_id, variant, user_id)

    # -- background work ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the online metrics from the database into the gauges (blocking)."""
        self.metrics.refresh(self.runtime, window=self.window)

    async def run(self) -> None:
        """Drain the queue every half second; refresh the gauges every refresh_seconds."""
        next_refresh = time.monotonic()
        while True:
            await anyio.sleep(DRAIN_SECONDS)
            if not self.runtime.database_up:
                # Outage: keep what is queued (the bounded queue counts what it must drop)
                # and write it once Postgres is back; no error per drain in the log.
                continue
            await anyio.to_thread.run_sync(self.recorder.flush, self.runtime.engine)
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + self.refresh_seconds
                try:
                    await anyio.to_thread.run_sync(self.refresh)
                except Exception:
                    log.exception("could not refresh the online metrics")

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Entered after the runtime's lifespan (the engine exists), left before it."""
        try:
            async with running(self.run, name="pgrec-impressions", what="the impression writer"):
                yield
        finally:
            await anyio.to_thread.run_sync(self.recorder.flush, self.runtime.engine)

    # -- request ids and timing ---------------------------------------------------------------

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Give every HTTP request an id (X-Request-ID) and time the API's requests."""

        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            request_id = str(uuid.uuid4())
            scope.setdefault("state", {})[REQUEST_ID_KEY] = request_id
            started = time.perf_counter()

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = [*message.get("headers", []), (HEADER, request_id.encode())]
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await app(scope, receive, send_with_id)
            finally:
                if not str(scope.get("path", "")).startswith(UNTIMED):
                    self.timeline.add(time.perf_counter() - started)

        return handle


def request_id_of(request: Request[Any, Any, Any]) -> str:
    """This request's id (set by the middleware; a fresh one for an app without it)."""
    state: dict[str, Any] = request.scope.get("state") or {}
    rid = state.get(REQUEST_ID_KEY)
    if rid is None:
        rid = str(uuid.uuid4())
        state[REQUEST_ID_KEY] = rid
    return str(rid)


def serve(
    request: Request[Any, Any, Any],
    options: ListOptions,
    user_id: str | None,
    produce: Callable[[ListOptions], Page],
) -> Page:
    """The list endpoints' hook: variant, answer, request id, impression (see Online.serve)."""
    online: Online = request.app.state[STATE_KEY]
    return online.serve(request, options, user_id, produce)


async def serve_async(
    request: Request[Any, Any, Any],
    options: ListOptions,
    user_id: str | None,
    produce: Callable[[ListOptions], Awaitable[Page]],
) -> Page:
    """`serve` for handlers that answer in the event loop (the read model's modes)."""
    online: Online = request.app.state[STATE_KEY]
    request_id, variant, opts = online.choose(request, options, user_id)
    return online.record(await produce(opts), request_id, variant, user_id)
