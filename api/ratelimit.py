"""Per-key rate limiting: a token bucket per API key (or per client address), 429 + Retry-After.

`PGREC_RATE_LIMIT` requests per minute refill each bucket; a bucket holds a minute's worth, so
bursts up to the limit pass. The buckets live in the worker process (with `--workers N` each
worker counts on its own). Health checks and /metrics are never limited: an orchestrator
polling them must not lock a client out.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from api.auth import key_matches
from api.errors import send_error
from db.settings import Settings

EXEMPT_PREFIXES = ("/health/", "/metrics", "/schema")
# Beyond this many buckets, full (idle) ones are dropped: random callers cannot grow memory.
MAX_BUCKETS = 10_000


class RateLimiter:
    """Token buckets keyed by caller; `take(caller)` -> seconds to wait (0 when allowed)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, caller: str) -> float:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                self._prune(now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= MAX_BUCKETS:
            return
        full = [
            k
            for k, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.capacity
        ]
        for k in full:
            del self._buckets[k]


def _caller(scope: Scope, settings: Settings) -> str:
    """A known key (hashed: keys never sit in memory twice) or else the client's address."""
    header = settings.api_key_header.lower().encode()
    for name, value in scope.get("headers", []):
        if name == header:
            given = value.decode("latin-1")
            if key_matches(given, settings.write_keys + settings.read_keys):
                return "key:" + hashlib.sha256(value).hexdigest()[:16]
    client = scope.get("client")
    return "addr:" + (client[0] if client else "unknown")


def rate_limit_middleware(settings: Settings) -> Any:
    """ASGI middleware factory for Litestar's `middleware=`; a no-op when the limit is 0."""
    limiter = RateLimiter(settings.rate_limit) if settings.rate_limit > 0 else None

    def middleware(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if (
                limiter is None
                or scope["type"] != ScopeType.HTTP
                or scope["path"].startswith(EXEMPT_PREFIXES)
            ):
                await app(scope, receive, send)
                return
            wait = limiter.take(_caller(scope, settings))
            if wait <= 0:
                await app(scope, receive, send)
                return
            retry_after = math.ceil(wait)
            await send_error(
                send,
                429,
                f"rate limit exceeded: retry after {retry_after} s",
                extra={"retry_after": retry_after},
                headers=[(b"retry-after", str(retry_after).encode())],
            )

        return limited

    return middleware
