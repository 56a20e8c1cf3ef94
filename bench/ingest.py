"""Ingest throughput: a 40k-item catalog (real Netflix + TMDB rows, replicated) into a fresh DB.

`python -m bench.ingest` writes the replicated rows to temp files in their own formats,
creates a database on the server pgrec uses (the embedded one unless DATABASE_URL is set),
migrates it, and times `ingest_file` on the files: the first load (all inserts) and a
re-run (all unchanged). Parse + validate alone is timed too, to show where time goes.
The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench.eval_report import cpu_model
from db import migrate
from db.engine import database_url, make_engine
from db.ingest import IngestSummary, ingest_file
from db.ingest.pipeline import parse_only

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
NETFLIX = SHARED / "netflix_titles" / "netflix_titles.csv"
TMDB = SHARED / "tmdb_5000_movies" / "tmdb_5000_movies.csv"


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        header, *rows = csv.reader(f)
    return header, rows


def build_catalog(items: int, out: Path) -> list[tuple[Path, str, int]]:
    """Write `items` rows (Netflix then TMDB, in proportion, each copy with new ids)."""
    n_header, n_rows = _rows(NETFLIX)
    t_header, t_rows = _rows(TMDB)
    n_items = round(items * len(n_rows) / (len(n_rows) + len(t_rows)))
    plan = (
        (out / "netflix.csv", "netflix", n_header, n_rows, n_items, "show_id"),
        (out / "tmdb.csv", "tmdb", t_header, t_rows, items - n_items, "id"),
    )
    files = []
    for path, fmt, header, rows, count, id_column in plan:
        col = header.index(id_column)
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for i in range(count):
                copy, row = divmod(i, len(rows))
                replica = list(rows[row])
                # Distinct ids per copy; TMDB ids stay integers (id * 100 + copy).
                original = replica[col]
                replica[col] = f"{original}c{copy}" if fmt == "netflix" else f"{original}{copy:02d}"
                w.writerow(replica)
        files.append((path, fmt, count))
    return files


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, migrated database on the server, dropped afterwards."""
    name = f"pgrec_bench_ingest_{os.getpid()}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(drop)
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as c:
            c.execute(drop)


@dataclass(frozen=True)
class Run:
    seconds: float
    client_cpu: float
    server_cpu: float | None
    items: int
    summaries: list[IngestSummary]

    def describe(self) -> str:
        text = f"{self.seconds:.2f} s = {self.items / self.seconds:,.0f} items/s"
        if self.server_cpu is None:
            return text + f" (client CPU {self.client_cpu:.2f} s)"
        cpu = self.client_cpu + self.server_cpu
        return text + (
            f" (CPU: client {self.client_cpu:.2f} s + server {self.server_cpu:.2f} s"
            f" = {self.items / cpu:,.0f} items per CPU-second)"
        )


def _backend_cpu(pid: int) -> float | None:
    # utime + stime of the server process serving our connection (a local server only).
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingest_all(url: str, files: list[tuple[Path, str, int]]) -> Run:
    """Ingest every file (one transaction each); time it, and the CPU on both sides."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            conn.rollback()
            server_before = _backend_cpu(pid)
            client_before = time.process_time()
            start = time.perf_counter()
            summaries = [ingest_file(conn=conn, path=p, fmt=fmt) for p, fmt, _ in files]
            seconds = time.perf_counter() - start
            client = time.process_time() - client_before
            server_after = _backend_cpu(pid)
    finally:
        engine.dispose()
    server = (
        server_after - server_before
        if server_before is not None and server_after is not None
        else None
    )
    return Run(seconds, client, server, sum(n for *_, n in files), summaries)


def machine() -> str:
    """nproc, CPU model, Python and OS: enough to compare numbers across machines."""
    model = cpu_model("unknown CPU")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"nproc {os.cpu_count()}, {model}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average {load}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--items", type=int, default=40_000, help="catalog size (40000)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="platformdirs")
    command = shlex.join(["python", "-m", "bench.ingest", *(argv or sys.argv[1:])])

    with tempfile.TemporaryDirectory(prefix="pgrec-bench-") as tmp:
        files = build_catalog(args.items, Path(tmp))
        start = time.perf_counter()
        for path, fmt, _ in files:
            parse_only(path=path, fmt=fmt)
        parse_seconds = time.perf_counter() - start
        with fresh_database(database_url()) as url:
            with psycopg.connect(url) as c:
                row = c.execute("SHOW server_version").fetchone()
                server = row[0] if row else "?"
            first = ingest_all(url, files)
            again = ingest_all(url, files)

    print(f"$ {command}")
    print(f"machine: {machine()}; PostgreSQL {server}")
    print(f"catalog: {args.items} items (" + ", ".join(f"{n} {fmt}" for _, fmt, n in files) + ")")
    parse_rate = args.items / parse_seconds
    print(f"parse + validate only: {parse_seconds:.2f} s ({parse_rate:,.0f} items/s)")
    for label, run in (("first load", first), ("re-run (unchanged)", again)):
        print(f"{label}: {run.describe()}")
        for (_, fmt, _), summary in zip(files, run.summaries, strict=True):
            print(f"  {fmt}: {summary.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
