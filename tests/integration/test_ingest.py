"""Ingest on the real database, inside the test's rolled-back transaction (savepoints).

Generic JSONL/CSV files written to tmp_path: upsert counts, what lands in the columns, a
changed description, bad rows (all or nothing, or --skip-invalid), CRLF, a failure midway.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from db.ingest import ItemRecord, ingest_file, validate_items, write_items
from db.ingest import pipeline as pipeline_module
from db.ingest import writer as writer_module

ITEMS: list[dict[str, Any]] = [
    {
        "external_id": "t:1",
        "title": "Desk\u00a0Lamp",
        "description": "A lamp\u200b for the desk.",
        "kind": "product",
        "categories": ["Home", "Lighting"],
        "tags": ["led"],
        "year": 2021,
        "price": "19.90",
        "available": True,
        "popularity": 2.5,
        "attributes": {"watts": 8},
        "colour": "black",
    },
    {"external_id": "t:2", "title": "Chair", "available": "no"},
    {"external_id": "t:3", "title": 'Quote " and back\\slash', "categories": ["a\\b", '"q"']},
]


def _jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def _rows(conn: Connection, prefix: str = "t:") -> dict[str, Any]:
    result = conn.execute(
        text(
            "SELECT external_id, title, description, kind, categories, tags, year, price,"
            " available, attributes, popularity, content_hash, ctid::text AS ctid"
            " FROM items WHERE starts_with(external_id, :p)"
        ),
        {"p": prefix},
    )
    return {r.external_id: r for r in result}


def test_jsonl_load_and_rerun(conn: Connection, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "items.jsonl", ITEMS)
    first = ingest_file(conn=conn, path=path, fmt="jsonl")
    assert first.line() == "inserted 3, updated 0, unchanged 0, rejected 0"
    rows = _rows(conn)
    lamp = rows["t:1"]
    assert (lamp.title, lamp.description, lamp.kind) == (
        "Desk Lamp",
        "A lamp for the desk.",
        "product",
    )
    assert (lamp.categories, lamp.tags, lamp.year) == (["Home", "Lighting"], ["led"], 2021)
    assert (lamp.price, lamp.available, lamp.popularity) == (Decimal("19.90"), True, 2.5)
    assert lamp.attributes == {"watts": 8, "colour": "black"}
    chair = rows["t:2"]
    assert (chair.description, chair.kind, chair.categories, chair.available) == (
        "",
        "item",
        [],
        False,
    )
    assert (chair.year, chair.price, chair.popularity, chair.attributes) == (None, None, 0.0, {})
    assert rows["t:3"].title == 'Quote " and back\\slash'
    assert rows["t:3"].categories == ["a\\b", '"q"']

    again = ingest_file(conn=conn, path=path, fmt="jsonl")
    assert again.line() == "inserted 0, updated 0, unchanged 3, rejected 0"
    # No row was rewritten: every tuple is where it was.
    assert {k: r.ctid for k, r in _rows(conn).items()} == {k: r.ctid for k, r in rows.items()}


def test_changed_description_updates_the_row_and_its_content_hash(
    conn: Connection, tmp_path: Path
) -> None:
    path = _jsonl(tmp_path / "items.jsonl", ITEMS)
    ingest_file(conn=conn, path=path, fmt="jsonl")
    before = _rows(conn)
    changed = [dict(ITEMS[0], description="A brighter lamp."), *ITEMS[1:]]
    summary = ingest_file(conn=conn, path=_jsonl(path, changed), fmt="jsonl")
    assert summary.line() == "inserted 0, updated 1, unchanged 2, rejected 0"
    after = _rows(conn)
    assert after["t:1"].description == "A brighter lamp."
    assert after["t:1"].content_hash != before["t:1"].content_hash
    assert after["t:2"].content_hash == before["t:2"].content_hash
    # A field that is not embedded changes the row but not the hash.
    priced = [dict(changed[0], price="24.00"), *ITEMS[1:]]
    assert ingest_file(conn=conn, path=_jsonl(path, priced), fmt="jsonl").updated == 1
    assert _rows(conn)["t:1"].content_hash == after["t:1"].content_hash


CSV_BAD = (
    "external_id,title,year,price\n"
    "t:1,One,2001,\n"
    "t:2,Two,two thousand,\n"  # line 3
    "t:3,Three,,-1\n"  # line 4
    "t:4,Four,,\n"
)


def test_a_bad_row_rejects_the_whole_file(conn: Connection, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(CSV_BAD, encoding="utf-8")
    summary = ingest_file(conn=conn, path=path, fmt="csv")
    assert not summary.written
    assert summary.line() == "inserted 0, updated 0, unchanged 0, rejected 2"
    assert [str(e) for e in summary.errors] == [
        f"{path}:3: field 'year': not an integer (value 'two thousand')",
        f"{path}:4: field 'price': negative (value '-1')",
    ]
    assert _rows(conn) == {}


def test_skip_invalid_writes_the_good_rows(conn: Connection, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(CSV_BAD, encoding="utf-8")
    summary = ingest_file(conn=conn, path=path, fmt="csv", skip_invalid=True)
    assert summary.written
    assert summary.line() == "inserted 2, updated 0, unchanged 0, rejected 2"
    assert [e.line for e in summary.errors] == [3, 4]
    assert sorted(_rows(conn)) == ["t:1", "t:4"]


def test_crlf_csv_with_lists_json_and_multiline_text(conn: Connection, tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(
        b"external_id,title,description,categories,tags,attributes,shelf\r\n"
        b't:1,First,"two\r\nlines and a bare\rCR",Books|Poetry,'
        b'"[""verse""]","{""pages"": 80}",A3\r\n'
        b"t:2,Second,,,,,\r\n"
    )
    assert ingest_file(conn=conn, path=path, fmt="csv").inserted == 2
    first = _rows(conn)["t:1"]
    assert first.description == "two lines and a bare CR"
    assert (first.categories, first.tags) == (["Books", "Poetry"], ["verse"])
    assert first.attributes == {"pages": 80, "shelf": "A3"}
    assert _rows(conn)["t:2"].attributes == {}


def test_validate_and_write_items_for_the_api(conn: Connection) -> None:
    checked = validate_items(items=ITEMS[:2])
    assert checked.errors == []
    counts = write_items(conn=conn, records=checked.records)
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)
    # Records built by hand keep text that validation would clean: COPY escapes it.
    raw = ItemRecord(external_id="t:raw", title="tab\there", description="new\nline \\ end")
    assert write_items(conn=conn, records=[raw]).inserted == 1
    row = _rows(conn)["t:raw"]
    assert (row.title, row.description) == ("tab\there", "new\nline \\ end")
    assert write_items(conn=conn, records=[raw, *checked.records]).unchanged == 3


def test_a_failure_midway_writes_nothing(
    conn: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between staging and the upsert (a file with a stored row), and in the middle of a
    COPY straight into items (all new)."""
    write_items(conn=conn, records=validate_items(items=ITEMS[:1]).records)
    before = _rows(conn)

    def explode(**kwargs: Any) -> None:
        raise RuntimeError("killed between COPY and upsert")

    path = _jsonl(tmp_path / "items.jsonl", ITEMS)
    with monkeypatch.context() as patch:
        patch.setattr(pipeline_module, "merge_staged", explode)
        with pytest.raises(RuntimeError, match="between COPY and upsert"):
            ingest_file(conn=conn, path=path, fmt="jsonl")
    # The savepoint was rolled back: the connection is usable and nothing changed.
    assert _rows(conn) == before

    lines = iter([writer_module.copy_line(r) for r in validate_items(items=NEW).records])

    def second_fails(record: ItemRecord) -> str:
        if record.external_id == NEW[1]["external_id"]:
            raise RuntimeError("killed in the middle of the COPY")
        return next(lines)

    monkeypatch.setattr(writer_module, "copy_line", second_fails)
    with pytest.raises(RuntimeError, match="middle of the COPY"):
        ingest_file(conn=conn, path=_jsonl(tmp_path / "new.jsonl", NEW), fmt="jsonl")
    assert _rows(conn) == before


NEW = [{"external_id": f"t:new-{i}", "title": f"New {i}"} for i in (3, 1, 2)]


def test_new_items_go_straight_in_in_file_order(conn: Connection, tmp_path: Path) -> None:
    """The file's order is kept (ids; the upsert writes in external_id order), and the
    columns Postgres generates are there."""
    summary = ingest_file(conn=conn, path=_jsonl(tmp_path / "new.jsonl", NEW), fmt="jsonl")
    assert summary.line() == "inserted 3, updated 0, unchanged 0, rejected 0"
    ids = conn.execute(
        text("SELECT external_id FROM items WHERE starts_with(external_id, 't:new-') ORDER BY id")
    ).scalars()
    assert list(ids) == [i["external_id"] for i in NEW]
    assert all(r.content_hash for r in _rows(conn, "t:new-").values())
    found = conn.execute(
        text("SELECT count(*) FROM items WHERE search_tsv @@ to_tsquery('english', 'new')")
    ).scalar_one()
    assert found >= 3


def test_a_stored_row_after_the_first_rows_falls_back_to_the_upsert(
    conn: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first rows are new, a later one is stored: the COPY straight into items fails on
    it, is undone, and the file is read again, staged and upserted: every count right."""
    monkeypatch.setattr(pipeline_module, "_PROBE", 1)
    write_items(conn=conn, records=validate_items(items=[{**NEW[2], "title": "Old"}]).records)
    summary = ingest_file(conn=conn, path=_jsonl(tmp_path / "new.jsonl", NEW), fmt="jsonl")
    assert summary.line() == "inserted 2, updated 1, unchanged 0, rejected 0"
    rows = _rows(conn, "t:new-")
    assert sorted(rows) == ["t:new-1", "t:new-2", "t:new-3"]
    assert rows["t:new-2"].title == "New 2"
    again = ingest_file(conn=conn, path=_jsonl(tmp_path / "new.jsonl", NEW), fmt="jsonl")
    assert again.line() == "inserted 0, updated 0, unchanged 3, rejected 0"
