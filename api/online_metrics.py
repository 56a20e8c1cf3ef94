"""Online relevance metrics in /metrics: impressions, CTR and conversion per mode and variant,
served coverage, list diversity and novelty, query-cache hit ratio and job durations.

Counters move with each request; the gauges are re-read from the `rec.*` views by the
impression task (every PGREC_ONLINE_REFRESH_SECONDS), never on a request's path.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

from api.metrics import counter, gauge
from db import impressions as store

if TYPE_CHECKING:
    from api.runtime import Runtime

QUALITY_SAMPLE = 200  # newest lists whose diversity and novelty the gauges average


class OnlineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        reg = registry
        self.served = counter(
            reg,
            "pgrec_impressions",
            "Lists served, by mode and variant (recorded or not).",
            ("mode", "variant"),
        )
        self.written = counter(reg, "pgrec_impressions_written", "Impressions written to Postgres.")
        self.dropped = counter(
            reg,
            "pgrec_impressions_dropped",
            "Impressions not recorded because the queue was full.",
        )
        self.failed = counter(
            reg, "pgrec_impressions_failed", "Impressions lost to a failed write."
        )
        self.queue_depth = gauge(
            reg, "pgrec_impression_queue_depth", "Impressions waiting to be written.", "livesum"
        )

        def window_gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return gauge(reg, name, doc, "max", labels)

        by = ("mode", "variant")
        self.ctr = window_gauge(
            "pgrec_ctr", "Share of served lists with a click, in the window.", by
        )
        self.conversion = window_gauge(
            "pgrec_conversion", "Share of served lists with a purchase, in the window.", by
        )
        self.window_impressions = window_gauge(
            "pgrec_window_impressions", "Impressions recorded in the window.", by
        )
        self.coverage = window_gauge(
            "pgrec_served_coverage", "Distinct items served in the window / catalog items."
        )
        self.served_items = window_gauge(
            "pgrec_served_items", "Distinct items served in the window."
        )
        self.diversity = window_gauge(
            "pgrec_list_diversity", "Mean pairwise cosine distance within served lists.", by
        )
        self.novelty = window_gauge(
            "pgrec_list_novelty", "Mean -log2(share of users who knew the item), served lists.", by
        )
        self.cache_hit_ratio = window_gauge(
            "pgrec_cache_hit_ratio", "Query-embedding cache hits / lookups (this process)."
        )
        self.job_seconds = window_gauge(
            "pgrec_job_seconds", "Duration of each job's last run (embed:<model>, ...).", ("job",)
        )

    def refresh(self, runtime: Runtime, *, window: dt.timedelta) -> None:
        """Read the window's figures from Postgres into the gauges (blocking)."""
        with runtime.connect() as conn:
            rates = store.variant_rates(conn=conn, window=window)
            served, catalog = store.served_coverage(conn=conn, window=window)
            quality = store.list_quality(conn=conn, window=window, sample=QUALITY_SAMPLE)
            jobs = store.job_seconds(conn=conn)
        for g in (self.ctr, self.conversion, self.window_impressions):
            g.clear()
        for r in rates:
            self.ctr.labels(r.mode, r.variant).set(r.ctr)
            self.conversion.labels(r.mode, r.variant).set(r.conversion)
            self.window_impressions.labels(r.mode, r.variant).set(r.impressions)
        self.served_items.set(served)
        self.coverage.set(served / catalog if catalog else 0.0)
        self.diversity.clear()
        self.novelty.clear()
        for q in quality:
            if q.diversity is not None:
                self.diversity.labels(q.mode, q.variant).set(q.diversity)
            if q.novelty is not None:
                self.novelty.labels(q.mode, q.variant).set(q.novelty)
        for job, seconds in jobs.items():
            self.job_seconds.labels(job).set(seconds)
        self.observe_cache(runtime)

    def observe_cache(self, runtime: Runtime) -> None:
        serving = runtime.serving
        if serving is None:
            return
        lookups = serving.encoder.hits + serving.encoder.misses
        self.cache_hit_ratio.set(serving.encoder.hits / lookups if lookups else 0.0)
