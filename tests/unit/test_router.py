"""Pure parts of the replica router: LSN parsing and formatting, URL redaction, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.routing import replica_urls
from db.embedded_ctl import url_for
from db.router import format_lsn, parse_lsn, redact
from db.settings import Settings


def test_lsn_round_trips_and_orders() -> None:
    assert parse_lsn("0/16B3748") == 0x16B3748
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")


@pytest.mark.parametrize("bad", ["", "yesterday", "0/", "/1", "0/1/2", "123456789/0", "0x1/2"])
def test_bad_lsn_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="LSN"):
        parse_lsn(bad)


def test_redact_hides_credentials() -> None:
    url = url_for(Path("/run/pg"), "app", password="s3cret", port=5433)
    assert url == "postgresql://postgres:s3cret@/app?host=/run/pg&port=5433"
    assert redact(url) == "/run/pg:5433/app"
    assert redact("postgresql://u:pw@db.example:6432/x") == "db.example:6432/x"


def test_replica_urls_from_settings() -> None:
    settings = Settings(database_replica_urls=" postgresql://a/x , ,postgresql://b/x")
    assert replica_urls(settings) == ["postgresql://a/x", "postgresql://b/x"]
    assert replica_urls(Settings()) == []
