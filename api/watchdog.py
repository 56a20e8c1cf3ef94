"""A lifespan task of the API: the analyst watchdog (db/analyst_limits.py) every few seconds.

Failures (the database away, a database not migrated yet) are logged once until the
watchdog succeeds again, not on every round.
"""

from __future__ import annotations

import logging

import anyio
from sqlalchemy.exc import DBAPIError

from api.runtime import Runtime
from db.analyst_limits import enforce_analyst_limits

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0


def _round(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        for row in enforce_analyst_limits(conn=conn):
            log.warning(
                "analyst watchdog %s backend %s (%s) after %s",
                row["action"],
                row["pid"],
                row["login"],
                row["for_how_long"],
            )


async def watch_analysts(runtime: Runtime, *, every: float = INTERVAL_SECONDS) -> None:
    """Run the watchdog until cancelled."""
    failing = False
    while True:
        try:
            await anyio.to_thread.run_sync(_round, runtime)
            failing = False
        except Exception as err:  # never take the refresher down with it
            if not failing:
                reason = err.orig if isinstance(err, DBAPIError) else err
                log.warning("analyst watchdog failed (retrying quietly): %s", reason)
            failing = True
        await anyio.sleep(every)
