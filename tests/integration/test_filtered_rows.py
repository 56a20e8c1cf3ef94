"""Rows of a filtered list Postgres answered: read model rows first, Postgres for the rest."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection

import db.recs as recs
from api.planner_parts import ViewFirstRows
from tests.support.databases import rolled_back


class _HalfView:
    """A read model that knows only some items (the rest changed since it was built)."""

    def __init__(self, known: dict[int, dict[str, Any]]) -> None:
        self.known = known

    def records(self, ids: Collection[int]) -> dict[int, dict[str, Any]]:
        return {i: self.known[i] for i in ids if i in self.known}


@pytest.fixture
def rc(catalog_url: str) -> Iterator[Connection]:
    with rolled_back(catalog_url) as conn:
        yield conn


def test_rows_come_from_the_view_first_then_postgres(rc: Connection) -> None:
    ids = [int(r[0]) for r in rc.exec_driver_sql("SELECT id FROM items ORDER BY id LIMIT 6")]
    truth = recs.fetch_items(conn=rc, ids=ids)
    view = _HalfView({i: {**truth[i], "title": "from the view"} for i in ids[:3]})
    rows = ViewFirstRows(conn=rc, view=view)  # type: ignore[arg-type]
    got = rows.get([*ids, 10**12])  # an id nobody has is simply absent
    assert list(got) == ids
    assert [got[i]["title"] for i in ids[:3]] == ["from the view"] * 3
    assert [got[i]["title"] for i in ids[3:]] == [truth[i]["title"] for i in ids[3:]]


def test_heavy_fields_join_the_view_rows(rc: Connection) -> None:
    ids = [int(r[0]) for r in rc.exec_driver_sql("SELECT id FROM items ORDER BY id LIMIT 2")]
    truth = recs.fetch_items(conn=rc, ids=ids)
    light = {i: {k: v for k, v in truth[i].items() if k != "description"} for i in ids}
    rows = ViewFirstRows(
        conn=rc,
        view=_HalfView(light),  # type: ignore[arg-type]
        heavy=lambda wanted: {i: {"description": truth[i]["description"]} for i in wanted},
    )
    got = rows.get(ids)
    assert [got[i]["description"] for i in ids] == [truth[i]["description"] for i in ids]
