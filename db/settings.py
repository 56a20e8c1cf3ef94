"""One settings object for every part of pgrec, read from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
    # The model that embeds items and queries when no registered path says otherwise.
    model_name: str = "all-MiniLM-L6-v2"
    model_path: str | None = None
    api_key: str | None = None
    api_key_header: str = "X-API-Key"

    @property
    def pgdata_dir(self) -> Path:
        return self.pgdata if self.pgdata is not None else self.data_dir / "pgdata"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
