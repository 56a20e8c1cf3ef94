"""Keeps the read model fresh: LISTEN for changes, apply them as an overlay, reload when in doubt.

One asyncio task per process owns every load and change, so they never overlap. A session:

1. connect a LISTEN connection first (nothing committed after this point is missed), then
   reconcile: map or build the read model when there is none, when the database's
   fingerprint moved away from it while nobody listened, or when an overlay from before a
   lost connection might be incomplete (a full reload, when in doubt);
2. load the active model's encoder, in a task of its own (the read model serves, and
   changes keep being applied, meanwhile);
3. watch: each notification names item ids; they are read again from Postgres and become
   the new overlay (a notification never carries data). `{"full": ...}` (new neighbour
   lists, another model) and an overlay grown past `max_overlay` reload everything, at
   most once per `min_full_gap` seconds whoever asks. Idle, a `SELECT 1` every `interval`
   seconds proves the connection alive.

A lost connection marks the database down (requests that need it answer 503 at once; the
read model keeps answering, flagged stale) and the session starts over every `retry`
seconds until Postgres answers again. Blocking work runs in worker threads; swaps are one
reference assignment on the event loop.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import anyio.abc
import psycopg
from sqlalchemy.exc import InterfaceError, OperationalError

from api.errors import outage_log
from api.memory import freeze_long_lived, release_freed_memory
from api.runtime import CONNECT_TIMEOUT, Runtime
from api.view import View
from db.embeddings import ModelInfo
from db.read_model import open_change_listener, parse_change, ping

log = logging.getLogger(__name__)


class Refresher:
    def __init__(
        self,
        runtime: Runtime,
        *,
        interval: float = 5.0,
        retry: float = 0.5,
        min_full_gap: float = 10.0,
        max_overlay: int = 5000,
    ) -> None:
        self.rt = runtime
        self.interval = interval
        self.retry = retry
        self.min_full_gap = min_full_gap
        self.max_overlay = max_overlay
        self.last_full = -float("inf")
        self.full_pending = False
        self.reloads = 0
        self.applied = 0
        self._lock: anyio.Lock | None = None  # created in the loop: loads and applies in turn
        self._encoder_wanted: anyio.Event | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self.warmed = 0
        self._warm_due = True  # at the first connection, and again after an outage
        self._warming = False
        runtime.reread = self.apply

    @property
    def lock(self) -> anyio.Lock:
        if self._lock is None:
            self._lock = anyio.Lock()
        return self._lock

    async def run(self) -> None:
        await self.rt.load_requested.wait()
        self._encoder_wanted = anyio.Event()
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            # Loading a model takes seconds to minutes: beside the watch, never blocking it.
            tasks.start_soon(self._encoder_loop)
            await self._sessions()

    def want_encoder(self) -> None:
        if self._encoder_wanted is not None:
            self._encoder_wanted.set()

    async def _encoder_loop(self) -> None:
        while self._encoder_wanted is not None:
            await self._encoder_wanted.wait()
            self._encoder_wanted = anyio.Event()
            await self._load_encoder()

    async def _sessions(self) -> None:
        while True:
            try:
                await self._session()
            except (psycopg.Error, OSError, TimeoutError, OperationalError, InterfaceError) as err:
                await self._lost(err)
            except Exception as err:  # a dead refresher would serve a stale view forever
                self.rt.load_error = f"{type(err).__name__}: {err}"
                outage_log.warning("refresher-failed", "read model refresher failed", exc_info=True)
            self.rt.listening = False
            self.rt.fresh = False
            await anyio.sleep(self.retry)

    async def _lost(self, err: BaseException) -> None:
        self.rt.mark_database(False)
        self._warm_due = True  # the pool's connections are replaced when it comes back
        self.rt.load_error = f"{type(err).__name__}: {err}"
        outage_log.warning("refresher", "database unreachable (%s); serving the read model", err)
        if self.rt.view is None:  # started during the outage: serve what was published
            try:
                base = await anyio.to_thread.run_sync(self.rt.map_published)
            except (OSError, ValueError) as failed:
                log.warning("no published read model to serve: %s", failed)
                return
            if base is not None and self.rt.view is None:
                self.rt.swap(View(base))
                self.want_encoder()

    async def _session(self) -> None:
        listener = await open_change_listener(url=self.rt.url, timeout=CONNECT_TIMEOUT)
        try:
            self.rt.mark_database(True)
            self.rt.listening = True
            await self._reconcile()
            self.rt.fresh = True
            self.want_encoder()
            if self._warm_due and not self._warming and self._tasks is not None:
                self._warm_due, self._warming = False, True  # new backends: start, outage
                self._tasks.start_soon(self._warm_pool)
            await self._watch(listener)
        finally:
            with anyio.CancelScope(shield=True):
                await listener.close()

    async def _warm_pool(self) -> None:
        """Warm the threaded pool's connections, then open the asyncio ones (warm too)."""
        started = time.perf_counter()
        try:
            warmed = await anyio.to_thread.run_sync(self.rt.warm_pool)
            fast = await self.rt.open_fast_reads()
        except Exception:  # an optimisation: never the end of the refresher's task group
            log.warning("could not warm the connection pool", exc_info=True)
            return
        finally:
            self._warming = False
        self.warmed += warmed
        spent = 1000 * (time.perf_counter() - started)
        also = f" and {self.rt.fast.slots} asyncio ones" if fast else ""
        log.info("warmed %d connections%s in %.0f ms", warmed, also, spent)

    async def _reconcile(self) -> None:
        view = self.rt.view
        if view is None or len(view.overlay):
            await self.reload()
            return
        stamp = await anyio.to_thread.run_sync(self.rt.database_fingerprint)
        if stamp != view.base.meta.fingerprint:
            await self.reload()

    async def reload(self) -> None:
        """Map (or build) the current read model; the overlay starts empty on top of it."""
        async with self.lock:
            base = await anyio.to_thread.run_sync(self.rt.load_base)
            self.last_full = time.monotonic()
            self.full_pending = False
            self.reloads += 1
            self.rt.swap(View(base))  # one full collection: what the previous view held
        # A build's rows and the previous view are garbage now: give their pages back to
        # the OS (malloc_trim, in a thread: ctypes lets go of the GIL meanwhile).
        await anyio.to_thread.run_sync(release_freed_memory)

    async def _load_encoder(self) -> None:
        view = self.rt.view
        serving = self.rt.serving
        if view is None or (serving is not None and serving.model.name == view.model):
            return
        meta = view.base.meta
        model = ModelInfo(name=meta.model, dim=meta.dim, path=meta.path, active=True)
        try:
            # Loading a model holds no connection and may take long: shutdown abandons it.
            serving = await anyio.to_thread.run_sync(
                self.rt.encoder_for, model, abandon_on_cancel=True
            )
        except Exception as err:
            self.rt.load_error = f"{type(err).__name__}: {err}"
            log.exception("loading the embedding model failed; semantic queries answer 503")
            return
        self.rt.serving = serving
        freeze_long_lived()  # the encoder's objects stay: keep full collections off them

    async def _watch(self, listener: psycopg.AsyncConnection[Any]) -> None:
        while True:
            ids, full = await self._next_batch(listener)
            if full:
                self.full_pending = True
            if self.full_pending and time.monotonic() - self.last_full >= self.min_full_gap:
                await self.reload()
                self.want_encoder()
                continue
            if ids:
                await self.apply(sorted(ids))
            elif not full:
                with anyio.fail_after(CONNECT_TIMEOUT):
                    await ping(listener)
                self.rt.last_check = time.time()

    async def _next_batch(self, listener: psycopg.AsyncConnection[Any]) -> tuple[set[int], bool]:
        """The ids named by the next notifications (those already arrived are taken along)."""
        ids: set[int] = set()
        full = False
        timeout = self.interval
        if self.full_pending:  # wake up when the rate limit allows the pending reload
            timeout = max(0.05, self.min_full_gap - (time.monotonic() - self.last_full))
        async for note in listener.notifies(timeout=timeout, stop_after=1):
            named = parse_change(note.payload)
            full |= named is None
            ids.update(named or ())
        if ids or full:  # drain what is already queued: one read for a burst
            async for note in listener.notifies(timeout=0.001):
                named = parse_change(note.payload)
                full |= named is None
                ids.update(named or ())
        return ids, full

    async def apply(self, ids: list[int]) -> None:
        """Read `ids` again and publish the view with them in the overlay.

        Serialised with reloads and other applies: a read that started earlier never
        overwrites a later one (a deleted item read just before its deletion, say).
        """
        async with self.lock:
            view = self.rt.view
            if view is None:
                return
            rows = await anyio.to_thread.run_sync(self.rt.changed, view, ids)
            overlay = view.overlay.apply(ids, rows)
            self.rt.swap(View(view.base, overlay))
            self.applied += 1
        if len(overlay) > self.max_overlay:
            self.full_pending = True
