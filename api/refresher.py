"""Keeps the FAISS snapshot fresh: LISTEN for the embedding worker, poll as a fallback.

One asyncio task per process owns every (re)build, so builds never overlap. Lifecycle:

1. first load: at startup (eager) or on the first request/`POST /load_models` (lazy);
   retried with backoff until it succeeds (readiness stays 503 meanwhile);
2. watch: LISTEN on `pgrec_vectors`; a notification (debounced, since the worker commits
   in batches) forces a rebuild; every `interval` seconds without one, a cheap signature
   check (count, max and sum of embedded_at, active model) rebuilds only on change. This
   also covers deletions and a worker that does not NOTIFY. When LISTEN is impossible the
   loop keeps polling and retries LISTEN every `relisten_after` seconds.

Builds run in worker threads; the swap is one reference assignment on the event loop.
Work holding a pooled connection is never abandoned on shutdown (it finishes first), so
the engine is disposed with every connection back in the pool.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import psycopg

from api.runtime import Runtime
from db.vectors import open_listener

log = logging.getLogger(__name__)


class Refresher:
    def __init__(
        self,
        runtime: Runtime,
        *,
        interval: float = 5.0,
        debounce: float = 0.25,
        relisten_after: float = 30.0,
    ) -> None:
        self.rt = runtime
        self.interval = interval
        self.debounce = debounce
        self.relisten_after = relisten_after

    async def run(self) -> None:
        await self.rt.load_requested.wait()
        await self._first_load()
        while True:
            try:
                await self._watch()
            except Exception:  # a dead refresher would serve a stale snapshot forever
                log.exception("snapshot refresher failed; restarting it")
                await anyio.sleep(self.interval)

    async def _first_load(self) -> None:
        backoff = min(1.0, self.interval)
        while self.rt.serving is None:
            if not await self.rebuild():
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def rebuild(self) -> bool:
        """Build a new bundle off the loop and swap it in; False (and logged) on failure."""
        try:
            model = await anyio.to_thread.run_sync(self.rt.active_model)
            # Loading a model holds no connection and may take long: shutdown abandons it.
            embedder, encoder = await anyio.to_thread.run_sync(
                self.rt.encoder_for, model, abandon_on_cancel=True
            )
            serving = await anyio.to_thread.run_sync(
                self.rt.build_serving, model, embedder, encoder
            )
        except Exception as err:
            self.rt.load_error = f"{type(err).__name__}: {err}"
            log.exception("building the vector snapshot failed")
            return False
        self.rt.swap(serving)
        return True

    async def check(self, *, force: bool) -> None:
        """Rebuild when forced (a notification) or when the database says anything changed."""
        if not force:
            try:
                changed = await anyio.to_thread.run_sync(self.rt.needs_rebuild)
            except Exception:
                log.exception("snapshot freshness check failed")
                return
            if not changed:
                self._observe()
                return
        await self.rebuild()

    def _observe(self) -> None:
        serving = self.rt.serving
        if serving is not None:
            snap = serving.snapshot
            self.rt.metrics.observe_snapshot(
                version=snap.version, size=snap.size, built_at=snap.built_at
            )

    async def _watch(self) -> None:
        listener: psycopg.AsyncConnection[Any] | None = None
        try:
            listener = await open_listener(url=self.rt.url)
            self.rt.listening = True
        except (psycopg.Error, OSError) as err:
            log.warning("cannot LISTEN for vector changes (%s); polling instead", err)
        try:
            await self.check(force=False)  # whatever changed while nobody listened
            waited = 0.0
            while listener is not None or waited < self.relisten_after:
                notified = await self._wait(listener)
                waited += 0.0 if listener is not None else self.interval
                await self.check(force=notified)
        except psycopg.Error as err:
            log.warning("LISTEN connection lost (%s); reconnecting", err)
            await anyio.sleep(self.interval)
        finally:
            self.rt.listening = False
            if listener is not None:
                with anyio.CancelScope(shield=True):
                    await listener.close()

    async def _wait(self, listener: psycopg.AsyncConnection[Any] | None) -> bool:
        """True after a notification (and a debounce window), False after `interval`."""
        if listener is None:
            await anyio.sleep(self.interval)
            return False
        notified = False
        async for _ in listener.notifies(timeout=self.interval, stop_after=1):
            notified = True
        if notified:  # the worker commits batch after batch: build once for the burst
            async for _ in listener.notifies(timeout=self.debounce):
                pass
        return notified
