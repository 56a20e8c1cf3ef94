"""The worker's asyncio connections for filtered semantic queries (db/async_reads.py).

Opened, each one warmed, once the read model is loaded and Postgres answers (the
refresher's warm-up, which runs again after every outage); retired the moment an outage
is noticed. Until a set is open, and whenever the deployment reads from replicas (their
routing is the threaded router's), those queries take the threaded path, so nothing
depends on it being there.
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

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 10.0


class FastReads:
    def __init__(
        self,
        slots: int,
        *,
        connect_timeout: int,
        wait_timeout: float,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.slots = slots
        self.on_wait = on_wait
        self.connect_timeout = connect_timeout
        self.wait_timeout = wait_timeout
        self.current: AsyncReads | None = None
        self.opened = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: set[Future[None]] = set()

    async def open(self, url: str, view: View, idle_ping: float) -> bool:
        """A new warmed set in place of the current one; False when there is none to open
        (0 slots) or Postgres refused (the threaded path goes on serving)."""
        if self.slots == 0:
            return False
        reads = AsyncReads(
            url,
            slots=self.slots,
            connect_timeout=self.connect_timeout,
            wait_timeout=self.wait_timeout,
            warm=partial(warm_async_connection, model=view.model, dim=view.base.meta.dim),
            idle_ping=idle_ping,
            on_wait=self.on_wait,
        )
        try:
            await reads.open(timeout=OPEN_TIMEOUT)
        except Exception as err:
            log.warning("could not open the asyncio read connections: %s", err)
            return False
        self.retire()
        self._loop = asyncio.get_running_loop()
        self.current = reads
        self.opened += 1
        return True

    def retire(self) -> None:
        """Stop using the current set; it closes in the loop meanwhile (safe from any thread:
        requests holding one of its connections finish first)."""
        old, self.current = self.current, None
        if old is not None and self._loop is not None and not self._loop.is_closed():
            closing = asyncio.run_coroutine_threadsafe(old.close(), self._loop)
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        self.retire()
        waits = [asyncio.wrap_future(f) for f in list(self._closing)]
        await asyncio.gather(*waits, return_exceptions=True)
