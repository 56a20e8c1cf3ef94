"""A few asyncio connections for the API's busiest Postgres read: filtered semantic queries.

The rest of the API talks to Postgres from worker threads through SQLAlchemy's pool. For a
filtered semantic query (one `rec.semantic` call) that costs more than the query itself
under load: two thread hops and threads contending for the GIL with the event loop
(p99 9-11 ms each at c=8, docs/serving.md). Here the event loop awaits psycopg's async
connection directly.

The pool also bounds how many such queries one worker runs in Postgres at once (`slots`),
and the rest wait their turn in order: on a machine whose cores Postgres shares, eight
HNSW scans started together all finish late, while two or three at a time each finish
soon (docs/serving.md, "Filtered queries on the event loop").

Errors come out as SQLAlchemy's `DBAPIError` family, as from the threaded path, so the
API answers them the same way (bad input 4xx, an unreachable server 503; a full pool after
`wait_timeout` seconds is a psycopg `OperationalError`, hence 503 too).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.exc import DBAPIError

from db.engine import libpq_url

Warm = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]


class AsyncReads:
    """`slots` autocommit connections to one server, opened and warmed by `open()`."""

    def __init__(
        self,
        url: str,
        *,
        slots: int,
        connect_timeout: int,
        wait_timeout: float,
        warm: Warm | None = None,
        idle_ping: float = 1.0,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.slots = slots
        self.idle_ping = idle_ping
        self.queries = 0
        self._warm = warm
        self._on_wait = on_wait  # seconds each caller waited for its connection
        self._idle_since: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            libpq_url(url),
            min_size=slots,
            max_size=slots,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": connect_timeout},
            configure=self._configure,
            check=self._check,
            reset=self._reset,
            timeout=wait_timeout,
            name="pgrec-async-reads",
        )

    async def open(self, timeout: float) -> None:
        """Open and warm every connection; raises (and closes) when they are not all up.

        Shielded from cancellation, and bounded by `timeout`: a pool abandoned halfway
        leaves backends waiting for the rest of a login that never comes (and a DROP
        DATABASE waiting for them), so an app stopped meanwhile waits for this instead,
        then closes what it opened.
        """
        with anyio.CancelScope(shield=True):
            try:
                await self.pool.open(wait=True, timeout=timeout)
            except BaseException:
                await self.pool.close()
                raise

    async def close(self, timeout: float = 5.0) -> None:
        with anyio.CancelScope(shield=True):
            await self.pool.close(timeout=timeout)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for one statement; waits in order for a free slot."""
        asked = time.perf_counter()
        try:
            async with self.pool.connection() as conn:
                self.queries += 1
                if self._on_wait is not None:
                    self._on_wait(time.perf_counter() - asked)
                yield conn
        except psycopg.Error as err:
            if isinstance(err, PoolTimeout) and self._on_wait is not None:
                self._on_wait(time.perf_counter() - asked)  # waited its whole turn, in vain
            raise DBAPIError.instance(None, None, err, psycopg.Error) from err

    # -- the pool's callbacks ------------------------------------------------------------

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._warm is not None:
            await self._warm(conn)
        self._idle_since[conn] = time.monotonic()

    async def _reset(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._idle_since[conn] = time.monotonic()

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Test a connection only when it sat idle over `idle_ping` seconds (one used a
        moment ago is almost surely alive; a test is a round trip). Raising discards it."""
        since = self._idle_since.get(conn)
        if since is not None and time.monotonic() - since <= self.idle_ping:
            return
        await AsyncConnectionPool.check_connection(conn)
