"""PGREC_QUERY_SLOTS: the cores by default, 0 turns the asyncio path off, and the setting's
former name still counts (a deployment that turned it off keeps it off)."""

from __future__ import annotations

import os

import pytest

from db.settings import Settings


def test_default_is_the_cores_at_least_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGREC_QUERY_SLOTS", raising=False)
    monkeypatch.delenv("PGREC_VECTOR_QUERY_SLOTS", raising=False)
    assert Settings().query_slots == max(2, os.cpu_count() or 2)


@pytest.mark.parametrize(
    ("env", "slots"),
    [
        ({"PGREC_QUERY_SLOTS": "0"}, 0),
        ({"PGREC_QUERY_SLOTS": "5"}, 5),
        ({"PGREC_VECTOR_QUERY_SLOTS": "0"}, 0),
        ({"PGREC_VECTOR_QUERY_SLOTS": "3", "PGREC_QUERY_SLOTS": "1"}, 1),
    ],
)
def test_set_by_either_name_the_new_one_first(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], slots: int
) -> None:
    monkeypatch.delenv("PGREC_QUERY_SLOTS", raising=False)
    monkeypatch.delenv("PGREC_VECTOR_QUERY_SLOTS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().query_slots == slots


def test_a_negative_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGREC_QUERY_SLOTS", "-1")
    with pytest.raises(ValueError, match="PGREC_QUERY_SLOTS"):
        Settings()
