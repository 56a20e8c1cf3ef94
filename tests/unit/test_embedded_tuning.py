"""The embedded server's memory settings: sized to the machine by default, fixed on request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from db import embedded_tuning
from db.settings import get_settings

GIB = 1024**3


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("SHARED_BUFFERS", "EFFECTIVE_CACHE_SIZE", "WORK_MEM"):
        monkeypatch.delenv(f"PGREC_PG_{name}", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_auto_is_a_quarter_of_memory_within_bounds() -> None:
    assert embedded_tuning.server_settings(24 * GIB) == {
        "shared_buffers": "6144MB",
        "effective_cache_size": "18432MB",
        "work_mem": "16MB",
    }
    assert embedded_tuning.server_settings(256 * GIB)["shared_buffers"] == "8192MB"
    assert embedded_tuning.server_settings(GIB // 4)["shared_buffers"] == "128MB"


def test_a_set_value_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGREC_PG_SHARED_BUFFERS", "128MB")
    get_settings.cache_clear()
    assert embedded_tuning.server_settings(24 * GIB)["shared_buffers"] == "128MB"


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGREC_PG_WORK_MEM", "16 MB; DROP")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="PGREC_PG_WORK_MEM"):
        embedded_tuning.server_settings(24 * GIB)
