"""One settings object for every part of pgrec, read from the environment."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """pgrec configuration; env vars are `PGREC_*`, plus the conventional `DATABASE_URL`."""

    model_config = SettingsConfigDict(env_prefix="PGREC_", extra="ignore")

    # When unset, pgrec starts (and reuses) an embedded PostgreSQL in `pgdata`.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "PGREC_DATABASE_URL")
    )
    # Comma-separated URLs of streaming replicas: the API's read paths go there (db/router.py).
    database_replica_urls: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_REPLICA_URLS", "PGREC_DATABASE_REPLICA_URLS"),
    )
    # A replica further behind the primary than this (WAL bytes) is skipped for reads.
    replica_max_lag_bytes: int = 16 * 1024 * 1024
    data_dir: Path = Path(".pgrec")
    pgdata: Path | None = None
    # Memory of the embedded server: `auto` sizes it to the machine (db/embedded_tuning.py).
    pg_shared_buffers: str = "auto"
    pg_effective_cache_size: str = "auto"
    pg_work_mem: str = "auto"
    # The model that embeds items and queries when no registered path says otherwise.
    model_name: str = "all-MiniLM-L6-v2"
    model_path: str | None = None
    # Which engine encodes a plain model path: auto | bf16 | onnx | torch (jobs/engines.py).
    encoder_engine: Literal["auto", "bf16", "onnx", "torch"] = "auto"
    encoder_threads: int | None = Field(default=None, ge=1)
    # Comma-separated lists (several keys at once: rotate without downtime).
    api_key: str | None = None
    read_key: str | None = None
    api_key_header: str = "X-API-Key"
    # PGREC_DEV=1: the API may start without a key (open writes); `make run` sets it.
    dev: bool = False
    # Requests per minute per API key (or per client address without one); 0 turns it off.
    rate_limit: int = Field(default=6000, ge=0)
    # Online metrics (api/impressions.py): record what was served, keep it this long.
    impressions: bool = True
    impression_queue: int = Field(default=10_000, ge=1, le=1_000_000)
    impression_retention_days: float = Field(default=30.0, gt=0)
    # A/B variants: JSON object name -> {share, ranker, fusion, diversity, ...} (api/variants.py).
    variants: str | None = None
    # Window of the online gauges (CTR, coverage, diversity) and how often they are re-read.
    online_window_hours: float = Field(default=24.0, gt=0)
    online_refresh_seconds: float = Field(default=60.0, gt=0)
    # Where API workers write the memory-mapped read model (default: data_dir/readmodel).
    readmodel_dir: Path | None = None
    # From this many vectors the read model holds an IVF index over float16 vectors instead
    # of the exact FAISS Flat scan (0: always exact); cells a query scans (api/ann_index.py).
    readmodel_ann_min_items: int = Field(default=50_000, ge=0)
    readmodel_ann_nprobe: int = Field(default=64, ge=1, le=65_536)
    # What each model's HNSW index stores: float32 `vector` or float16 `halfvec` (half the
    # index; docs/scaling.md). `pgrec migrate` rebuilds indexes built with the other one.
    vector_storage: Literal["vector", "halfvec"] = "vector"
    # How wide a candidate list builds each node's HNSW neighbours (pgvector's default 64):
    # 128 took recall@10 of filtered scans from 0.99 to 1.00 on near-item queries and
    # titles' from 0.95 to 0.96-0.97, at the same query cost, for ~1.7x the build time
    # (docs/serving.md#a-better-built-graph-session-9). `pgrec migrate` rebuilds the others.
    hnsw_ef_construction: int = Field(default=128, ge=32, le=1000)
    # How many queries (filtered semantic, terms, title, hybrid) one API worker runs in Postgres at
    # once, on its asyncio connections (db/async_reads.py); the rest wait their turn. Unset:
    # the cores of this machine (at least 2), right for a Postgres that shares them; raise it
    # for one on a bigger machine. 0: those queries go through the threaded pool, unbounded.
    # PGREC_VECTOR_QUERY_SLOTS, its name when it bounded only filtered semantic, still counts.
    query_slot_count: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        validation_alias=AliasChoices("PGREC_QUERY_SLOTS", "PGREC_VECTOR_QUERY_SLOTS"),
    )

    @property
    def write_keys(self) -> tuple[str, ...]:
        return _keys(self.api_key)

    @property
    def read_keys(self) -> tuple[str, ...]:
        return _keys(self.read_key)

    @property
    def query_slots(self) -> int:
        if self.query_slot_count is not None:
            return self.query_slot_count
        return max(2, os.cpu_count() or 2)

    @property
    def pgdata_dir(self) -> Path:
        return self.pgdata if self.pgdata is not None else self.data_dir / "pgdata"


def _keys(value: str | None) -> tuple[str, ...]:
    return tuple(k.strip() for k in (value or "").split(",") if k.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
