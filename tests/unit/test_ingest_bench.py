"""The ingest benchmark's catalog: real rows, replicated with distinct ids, in their formats."""

from __future__ import annotations

import csv
from pathlib import Path

from bench.ingest import build_catalog
from db.ingest.pipeline import parse_only


def test_replicated_catalog_has_distinct_ids(tmp_path: Path) -> None:
    files = build_catalog(15_000, tmp_path)  # more TMDB rows than the file has: copies
    assert [(fmt, n) for _, fmt, n in files] == [("netflix", 9706), ("tmdb", 5294)]
    for path, fmt, n in files:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        ids = [row["show_id" if fmt == "netflix" else "id"] for row in rows]
        assert len(ids) == len(set(ids)) == n
        if fmt == "tmdb":
            assert all(i.isdigit() for i in ids)  # TMDb ids must stay integers


def test_a_small_catalog_passes_validation(tmp_path: Path) -> None:
    for path, fmt, n in build_catalog(200, tmp_path):
        assert parse_only(path=path, fmt=fmt) == (n, [])
