"""The real catalogs through `pgrec ingest` end to end, committed into a database of their own.

One module database is loaded once with Netflix and TMDB through the CLI; the tests then
check counts and quirks in the stored rows, that a re-run changes nothing (updated_at and
row versions untouched), the MovieLens mapping (70,194 of 100,836 ratings map to TMDB
items), a rejected copy with one malformed row, and a killed process.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from db.engine import make_engine
from db.ingest import IngestSummary, ingest_file
from tests.support.cli import pgrec, query
from tests.support.databases import ROOT, private_database

NETFLIX = "netflix_titles/netflix_titles.csv"
TMDB = "tmdb_5000_movies/tmdb_5000_movies.csv"
RATINGS = "movielens_ml-latest-small/ratings.csv"


@pytest.fixture(scope="module")
def catalog(server_url: str, template_url: str, shared_data: Path) -> Iterator[str]:
    with private_database(server_url, template_url) as url:
        for path, fmt in ((NETFLIX, "netflix"), (TMDB, "tmdb")):
            code, _, err = pgrec(url, "ingest", shared_data / path, "--format", fmt)
            assert (code, err) == (0, ""), err
        yield url


def _snapshot(url: str) -> list[tuple[Any, ...]]:
    return query(
        url,
        "SELECT external_id, updated_at, content_hash, xmin::text FROM items ORDER BY external_id",
    )


def test_counts_match_the_files(catalog: str) -> None:
    by_kind = (
        "SELECT split_part(external_id, ':', 1) || '/' || kind, count(*) FROM items GROUP BY 1"
    )
    assert dict(query(catalog, by_kind)) == {
        "netflix/movie": 6131,
        "netflix/tv": 2676,
        "tmdb/movie": 4803,
    }


def test_quirks_as_stored(catalog: str) -> None:
    rows = {
        r[0]: r[1:]
        for r in query(
            catalog,
            "SELECT external_id, title, description, categories, tags, attributes FROM items"
            " WHERE external_id = ANY(%s)",
            ["netflix:s622", "netflix:s2999", "netflix:s5542", "tmdb:19995", "tmdb:11342"],
        )
    }
    assert rows["netflix:s622"][0] == "Legend of Exorcism"
    assert rows["netflix:s2999"][0] == "SAINT SEIYA: Knights of the Zodiac"
    assert rows["netflix:s5542"][4]["duration_minutes"] == 74
    assert "rating" not in rows["netflix:s5542"][4]
    assert rows["tmdb:19995"][2] == ["Action", "Adventure", "Fantasy", "Science Fiction"]
    assert "culture clash" in rows["tmdb:19995"][3]
    assert "\r" not in rows["tmdb:11342"][1]
    bad_chars = query(
        catalog,
        "SELECT count(*) FROM items WHERE title ~ %s OR description ~ %s",
        "[\u00a0\u200b\u00ad\r\n]|  ",
        "[\u00a0\u200b\u00ad\r\n]|  ",
    )
    assert bad_chars == [(0,)]


def test_a_second_run_changes_nothing(catalog: str, shared_data: Path) -> None:
    before = _snapshot(catalog)
    for path, fmt, n in ((NETFLIX, "netflix", 8807), (TMDB, "tmdb", 4803)):
        code, out, _ = pgrec(catalog, "ingest", shared_data / path, "--format", fmt)
        assert (code, out) == (0, f"inserted 0, updated 0, unchanged {n}, rejected 0\n")
    assert _snapshot(catalog) == before


def test_movielens_ratings_map_through_links(catalog: str, shared_data: Path) -> None:
    ratings = shared_data / RATINGS
    code, out, _ = pgrec(catalog, "ingest", ratings, "--format", "movielens-ratings")
    unmapped = "unmapped 30642 (no tmdbId 13, not in catalog 30629)"
    assert (code, out) == (0, f"inserted 70194, updated 0, unchanged 0, rejected 0, {unmapped}\n")
    assert query(
        catalog,
        "SELECT count(*), count(DISTINCT user_id), min(value), max(value) FROM interactions"
        " WHERE event = 'rating'",
    ) == [(70194, 610, 0.5, 5.0)]
    # userId 1 rated movieId 1 (Toy Story, tmdbId 862) 4.0 at 964982703.
    assert query(
        catalog,
        "SELECT i.value, extract(epoch FROM i.occurred_at)::bigint FROM interactions i"
        " JOIN items t ON t.id = i.item_id WHERE i.user_id = 'ml:1' AND t.external_id = 'tmdb:862'",
    ) == [(4.0, 964982703)]
    links = ratings.with_name("links.csv")
    code, out, _ = pgrec(
        catalog, "ingest", ratings, "--format", "movielens-ratings", "--links", links
    )
    assert (code, out) == (0, f"inserted 0, updated 0, unchanged 70194, rejected 0, {unmapped}\n")


def test_missing_links_file_is_a_clear_error(catalog: str, tmp_path: Path) -> None:
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    code, out, err = pgrec(catalog, "ingest", ratings, "--format", "movielens-ratings")
    assert (code, out) == (2, "")
    assert f"{tmp_path / 'links.csv'}: links file not found" in err


def _netflix_copy(
    source: Path, copy: Path, prefix: str, bad_line: int | None = None, size: int | None = None
) -> Path:
    """The Netflix file (or its first `size` rows) with new show_ids, so any write shows."""
    with source.open(encoding="utf-8", newline="") as src:
        rows = list(csv.reader(src))[: None if size is None else size + 1]
    for row in rows[1:]:
        row[0] = prefix + row[0]
    if bad_line is not None:
        rows[bad_line - 1][7] = "20x0"  # release_year; the file has no multi-line records
    with copy.open("w", encoding="utf-8", newline="") as dst:
        csv.writer(dst).writerows(rows)
    return copy


def _count(url: str, prefix: str) -> int:
    found = query(url, "SELECT count(*) FROM items WHERE starts_with(external_id, %s)", prefix)
    return int(found[0][0])


def test_a_copy_with_one_malformed_row_writes_nothing(
    catalog: str, shared_data: Path, tmp_path: Path
) -> None:
    copy = _netflix_copy(shared_data / NETFLIX, tmp_path / "copy.csv", "copy-", bad_line=101)
    code, out, err = pgrec(catalog, "ingest", copy, "--format", "netflix")
    assert code == 1
    assert out == "inserted 0, updated 0, unchanged 0, rejected 1\n"
    assert err.splitlines()[0] == (
        f"{copy}:101: field 'release_year': not an integer (value '20x0')"
    )
    assert "nothing written" in err
    assert _count(catalog, "netflix:copy-") == 0


def test_a_killed_process_writes_nothing(catalog: str, shared_data: Path, tmp_path: Path) -> None:
    # 4,000 new rows: a write (COPY straight into items) long enough to be caught, short
    # enough to wait for.
    copy = _netflix_copy(shared_data / NETFLIX, tmp_path / "copy.csv", "kill-", size=4000)
    env = dict(os.environ, DATABASE_URL=catalog)
    cmd = [sys.executable, "-m", "pgrec", "ingest", str(copy), "--format", "netflix"]
    with subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        try:
            backend = _wait_for_upsert(catalog, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    _wait_until_gone(catalog, backend)
    assert _count(catalog, "netflix:kill-") == 0


def _wait_for_upsert(url: str, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    with psycopg.connect(url, autocommit=True) as c:
        while time.monotonic() < deadline:
            found = c.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND (query LIKE %s OR query LIKE %s)"
                " AND pid <> pg_backend_pid()",
                ("%INSERT INTO items%", "COPY items %"),
            ).fetchone()
            if found:
                return int(found[0])
            if proc.poll() is not None:
                output = proc.stdout.read() if proc.stdout else b""
                raise AssertionError(f"ingest ended before it could be killed: {output!r}")
            time.sleep(0.005)
    raise AssertionError("the ingest never reached its write")


def _wait_until_gone(url: str, backend: int) -> None:
    # The backend finishes the statement, finds its client gone, and rolls back.
    deadline = time.monotonic() + 120
    while query(url, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", backend):
        assert time.monotonic() < deadline, "the killed client's backend did not end"
        time.sleep(0.05)


RACE = [{"external_id": f"race:{i:05d}", "title": f"Race {i}"} for i in range(3000)]


def _race(url: str, files: list[Path]) -> list[IngestSummary]:
    """Ingest the files at the same moment, one thread and connection each."""
    start = threading.Barrier(len(files))
    summaries: list[IngestSummary] = []
    failures: list[BaseException] = []

    def load(path: Path) -> None:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                start.wait()
                summaries.append(ingest_file(conn=conn, path=path, fmt="jsonl"))
                conn.commit()
        except BaseException as err:  # reported below, with the other thread's outcome
            failures.append(err)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=load, args=(p,)) for p in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    return summaries


def _jsonl_file(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def test_two_first_loads_of_the_same_items_at_once(fresh_db_url: str, tmp_path: Path) -> None:
    """Both straight into items, in opposite orders: one wins, the other meets its rows
    (a unique violation, or a deadlock Postgres breaks) and upserts instead. Both succeed,
    and every item is there once."""
    up = _jsonl_file(tmp_path / "up.jsonl", RACE)
    down = _jsonl_file(tmp_path / "down.jsonl", RACE[::-1])
    summaries = _race(fresh_db_url, [up, down])
    assert sorted(s.inserted for s in summaries) == [0, 3000]
    assert sorted(s.unchanged for s in summaries) == [0, 3000]
    assert _race_rows(fresh_db_url) == (3000, 3000)


def test_a_first_load_beside_an_upsert_of_the_same_items(fresh_db_url: str, tmp_path: Path) -> None:
    """Straight into items in descending order, while another file (one stored row first,
    so staged) upserts the same new items in ascending order: whichever of the two
    Postgres fails to break a deadlock tries again; both succeed."""
    stored = {"external_id": "race:stored", "title": "Stored"}
    _ingest_at(fresh_db_url, _jsonl_file(tmp_path / "stored.jsonl", [stored]))
    down = _jsonl_file(tmp_path / "down.jsonl", RACE[::-1])
    staged = _jsonl_file(tmp_path / "staged.jsonl", [stored, *RACE])
    summaries = _race(fresh_db_url, [down, staged])
    assert sum(s.inserted for s in summaries) == 3000
    assert sum(s.unchanged for s in summaries) == 3000 + 1
    assert _race_rows(fresh_db_url) == (3001, 3001)


def _race_rows(url: str) -> tuple[int, int]:
    """Rows of the race's items, and distinct external ids among them."""
    rows = query(
        url,
        "SELECT count(*), count(DISTINCT external_id) FROM items"
        " WHERE starts_with(external_id, 'race:')",
    )
    return int(rows[0][0]), int(rows[0][1])


def _ingest_at(url: str, path: Path) -> IngestSummary:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return ingest_file(conn=conn, path=path, fmt="jsonl")
    finally:
        engine.dispose()
