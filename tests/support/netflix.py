"""The Netflix sample shipped in data/ as items, for the tests that run the real model."""

from __future__ import annotations

import csv

from sqlalchemy import Engine, text

from tests.support.databases import ROOT

NETFLIX_SAMPLE = ROOT / "data" / "netflix_sample.csv"


def insert_netflix_sample(engine: Engine, n: int) -> None:
    """Insert the sample's first `n` titles as items (external_id = show_id)."""
    with NETFLIX_SAMPLE.open(newline="", encoding="utf-8") as f:
        rows = [r for _, r in zip(range(n), csv.DictReader(f), strict=False)]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO items (external_id, title, categories, description) "
                "VALUES (:e, :t, string_to_array(:c, ', '), :d)"
            ),
            [
                {"e": r["show_id"], "t": r["title"], "c": r["listed_in"], "d": r["description"]}
                for r in rows
            ],
        )
