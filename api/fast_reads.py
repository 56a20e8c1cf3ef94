"""The worker's asyncio connections for filtered semantic queries (db/async_reads.py).

One set per read target: the primary's, or with `DATABASE_REPLICA_URLS` one per replica
(the threaded router still decides which replica is fit: `Router.recently_fit`). Opened,
each connection warmed, once the read model is loaded and Postgres answers (the
refresher's warm-up, which runs again after every outage); retired the moment an outage is
noticed; a replica's set that could not open then is opened in the background the first
time the router finds that replica fit. Until a set is open those queries take the
threaded path, so nothing depends on it being there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial

from api.view import View
from db.async_reads import AsyncReads
from db.recs.warm import warm_async_connection
from db.router import REQUEST_LSN, Replica, Router

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 10.0
PRIMARY = "primary"


def replica_url(replica: Replica) -> str:
    return replica.engine.url.render_as_string(hide_password=False)


class FastReads:
    def __init__(
        self,
        slots: int,
        *,
        connect_timeout: int,
        wait_timeout: float,
        idle_ping: float,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.slots = slots
        self.idle_ping = idle_ping
        self.on_wait = on_wait
        self.connect_timeout = connect_timeout
        self.wait_timeout = wait_timeout
        self.sets: dict[str, AsyncReads] = {}  # by target: "primary" or a replica's name
        self.opened = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: set[Future[None]] = set()
        self._opening: dict[str, asyncio.Task[bool]] = {}

    @property
    def current(self) -> AsyncReads | None:
        """The primary's set (deployments without replicas)."""
        return self.sets.get(PRIMARY)

    async def open(self, targets: dict[str, str], view: View) -> bool:
        """New warmed sets for `targets` (name -> URL) in place of the current ones; False
        when none opened (0 slots, or Postgres refused: the threaded path goes on serving)."""
        if self.slots == 0:
            return False
        for gone in set(self.sets) - set(targets):
            self.retire(gone)
        opened = [await self._open_one(name, url, view) for name, url in targets.items()]
        return any(opened)

    def open_soon(self, name: str, url: str, view: View) -> None:
        """Open `name`'s set in the background (once at a time); call in the event loop."""
        if self.slots == 0 or name in self.sets or name in self._opening:
            return
        task = asyncio.get_running_loop().create_task(self._open_one(name, url, view))
        self._opening[name] = task
        task.add_done_callback(lambda _: self._opening.pop(name, None))

    async def _open_one(self, name: str, url: str, view: View) -> bool:
        reads = AsyncReads(
            url,
            slots=self.slots,
            connect_timeout=self.connect_timeout,
            wait_timeout=self.wait_timeout,
            warm=partial(warm_async_connection, model=view.model, dim=view.base.meta.dim),
            idle_ping=self.idle_ping,
            on_wait=self.on_wait,
        )
        try:
            await reads.open(timeout=OPEN_TIMEOUT)
        except Exception as err:
            log.warning("could not open the asyncio read connections to %s: %s", name, err)
            return False
        self._loop = asyncio.get_running_loop()
        self._retire_one(self.sets.pop(name, None))
        self.sets[name] = reads
        self.opened += 1
        return True

    def pick(self, router: Router, view: View | None) -> tuple[AsyncReads, Replica | None] | None:
        """The set a filtered semantic query may use now, and the replica it reads (None:
        the primary); None when the threaded path must decide: no set open, or no replica
        the router found fit within the last second (its own read will check them)."""
        if not router.replicas:
            reads = self.current
            return None if reads is None else (reads, None)
        replica = router.recently_fit(REQUEST_LSN.get())
        if replica is None:
            return None
        reads = self.sets.get(replica.name)
        if reads is None and view is not None:
            self.open_soon(replica.name, replica_url(replica), view)
        return None if reads is None else (reads, replica)

    def retire(self, name: str | None = None) -> None:
        """Stop using one set (or all); each closes in the loop meanwhile (safe from any
        thread: requests holding one of its connections finish first)."""
        names = list(self.sets) if name is None else [name]
        for each in names:
            self._retire_one(self.sets.pop(each, None))

    def _retire_one(self, old: AsyncReads | None) -> None:
        if old is not None and self._loop is not None and not self._loop.is_closed():
            closing = asyncio.run_coroutine_threadsafe(old.close(), self._loop)
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for task in list(self._opening.values()):
            await asyncio.gather(task, return_exceptions=True)  # shielded: finishes soon
        self.retire()
        waits = [asyncio.wrap_future(f) for f in list(self._closing)]
        await asyncio.gather(*waits, return_exceptions=True)
