"""Behaviour while Postgres is unreachable: a fast 503 and logs that do not flood.

`DatabaseUnavailable` is raised before touching the pool once the refresher has found the
database down (so requests do not each wait for a connect timeout); `ThrottledLog` logs
the first of a run of identical errors at once and the rest as one line with a count.
"""

from __future__ import annotations

import logging
import threading
import time

from litestar.exceptions import ServiceUnavailableException

RETRY_AFTER_SECONDS = 2
LOG_EVERY_SECONDS = 10.0


class DatabaseUnavailable(ServiceUnavailableException):
    """Postgres is unreachable: this request needs it (503 with Retry-After)."""

    def __init__(self, detail: str = "database unavailable") -> None:
        super().__init__(detail=detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class ThrottledLog:
    """Log a message once per `every` seconds per key, then how many repeats were held back."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY_SECONDS) -> None:
        self.logger = logger
        self.every = every
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object, exc_info: bool = False) -> bool:
        """Log now (True) or count it for the next line (False)."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        suffix = f" (and {held} more like it in the last {self.every:.0f}s)" if held else ""
        self.logger.warning(message + suffix, *args, exc_info=exc_info)
        return True


VERSION_HEADER = "X-Pgrec-Read-Model"
STALE_HEADER = "X-Pgrec-Stale"


def page_headers(version: int | None, stale: bool) -> dict[str, str]:
    """Headers of a page answered from the read model: which version, and whether stale."""
    if version is None:
        return {}
    return {VERSION_HEADER: str(version), STALE_HEADER: "true" if stale else "false"}
