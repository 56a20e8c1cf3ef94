"""Progress of an embedding run: a tqdm bar on a terminal, key=value log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from typing import Protocol

log = logging.getLogger("jobs.embed")


class Progress(Protocol):
    def start(self, model: str, total: int) -> None: ...

    def advance(self, done: int, remaining: int) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    def start(self, model: str, total: int) -> None:
        pass

    def advance(self, done: int, remaining: int) -> None:
        pass

    def close(self) -> None:
        pass


class BarProgress:
    """tqdm shows items, items/s and the ETA; the total grows if items change meanwhile."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._bar: tqdm[None] | None = None

    def start(self, model: str, total: int) -> None:
        self._bar = self._tqdm(
            total=total, unit="item", desc=f"embed {model}", dynamic_ncols=True, smoothing=0.1
        )

    def advance(self, done: int, remaining: int) -> None:
        if self._bar is None:
            return
        self._bar.total = max(self._bar.total or 0, done + remaining)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class LogProgress:
    """One structured line at most every `every` seconds, for logs that a machine reads."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self._model = ""
        self._t0 = self._last = 0.0
        self._done = 0
        self._remaining = 0

    def start(self, model: str, total: int) -> None:
        self._model = model
        self._t0 = self._last = time.monotonic()
        self._remaining = total
        log.info("embed start model=%s needed=%d", model, total)

    def advance(self, done: int, remaining: int) -> None:
        self._done, self._remaining = done, remaining
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._emit("embed progress")

    def close(self) -> None:
        self._emit("embed done")

    def _emit(self, what: str) -> None:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        rate = self._done / elapsed
        eta = self._remaining / rate if rate > 0 else float("nan")
        log.info(
            "%s model=%s done=%d remaining=%d rate=%.1f/s elapsed=%.1fs eta=%.0fs",
            what,
            self._model,
            self._done,
            self._remaining,
            rate,
            elapsed,
            eta,
        )


def for_stream(stream: object = None) -> Progress:
    """A bar when stderr is a terminal, log lines otherwise."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return BarProgress() if callable(isatty) and isatty() else LogProgress()
