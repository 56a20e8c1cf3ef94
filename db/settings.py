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
    data_dir: Path = Path(".pgrec")
    pgdata: Path | None = None
    # The model that embeds items and queries when no registered path says otherwise.
    model_name: str = "all-MiniLM-L6-v2"
    model_path: str | None = None
    # Comma-separated lists (several keys at once: rotate without downtime).
    api_key: str | None = None
    read_key: str | None = None
    api_key_header: str = "X-API-Key"
    # PGREC_DEV=1: the API may start without a key (open writes); `make run` sets it.
    dev: bool = False
    # Requests per minute per API key (or per client address without one); 0 turns it off.
    rate_limit: int = Field(default=6000, ge=0)

    @property
    def write_keys(self) -> tuple[str, ...]:
        return _keys(self.api_key)

    @property
    def read_keys(self) -> tuple[str, ...]:
        return _keys(self.read_key)

    @property
    def pgdata_dir(self) -> Path:
        return self.pgdata if self.pgdata is not None else self.data_dir / "pgdata"


def _keys(value: str | None) -> tuple[str, ...]:
    return tuple(k.strip() for k in (value or "").split(",") if k.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
