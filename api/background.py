"""Background tasks of the app's lifespans: started with the app, stopped through a scope."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

log = logging.getLogger(__name__)


@asynccontextmanager
async def running(
    work: Callable[[], Awaitable[None]], *, name: str, what: str
) -> AsyncIterator[None]:
    """Run `work()` as a task while the block runs; on exit stop it and log if it had failed.

    Stopped through an anyio cancel scope, not task.cancel(): a native cancellation ignores
    anyio's shields and would leave a worker thread holding a pooled connection while the
    engine is disposed.
    """
    scope = anyio.CancelScope()

    async def guarded() -> None:
        with scope:
            await work()

    task = asyncio.create_task(guarded(), name=name)
    try:
        yield
    finally:
        scope.cancel()
        try:
            await task
        except Exception:
            log.exception("%s had failed", what)
