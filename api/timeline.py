"""Request latency and throughput over the last hour in this process, for the console charts.

Prometheus keeps the real history; the console needs a few points without a Prometheus
server, so each 10-second bucket keeps its request count and a bounded sample of latencies.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

BUCKET_SECONDS = 10.0
KEEP_BUCKETS = 360  # one hour
SAMPLE = 256  # latencies kept per bucket (reservoir): percentiles without unbounded memory


@dataclass
class _Bucket:
    start: float
    count: int = 0
    samples: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Point:
    start: float  # epoch seconds
    requests_per_second: float
    p50_ms: float
    p95_ms: float


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class Timeline:
    def __init__(self, *, bucket: float = BUCKET_SECONDS, keep: int = KEEP_BUCKETS) -> None:
        self.bucket = bucket
        self._buckets: deque[_Bucket] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._rng = random.Random(17)

    def add(self, seconds: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        start = now - now % self.bucket
        with self._lock:
            if not self._buckets or self._buckets[-1].start < start:
                self._buckets.append(_Bucket(start))
            b = self._buckets[-1]
            b.count += 1
            if len(b.samples) < SAMPLE:
                b.samples.append(seconds)
            else:
                j = self._rng.randrange(b.count)
                if j < SAMPLE:
                    b.samples[j] = seconds

    def series(self) -> list[Point]:
        with self._lock:
            buckets = [(b.start, b.count, sorted(b.samples)) for b in self._buckets]
        return [
            Point(
                start=start,
                requests_per_second=count / self.bucket,
                p50_ms=1000 * _quantile(samples, 0.5),
                p95_ms=1000 * _quantile(samples, 0.95),
            )
            for start, count, samples in buckets
        ]
