"""Ingest one file: read, map, validate, and write it in one transaction (or not at all)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Transaction

from db.ingest import movielens, netflix, tmdb
from db.ingest.readers import IngestError, read_csv, read_jsonl
from db.ingest.records import FieldError, InvalidItem, ItemRecord, RowError, row_error
from db.ingest.validation import Deduplicator, normalise_item
from db.ingest.writer import WriteCounts, any_stored, insert_new, merge_staged, stage_items

Progress = Callable[[int], None]
_TICK = 500  # rows between progress callbacks
# Rows read before choosing how to write: none of them stored, the file goes straight in.
_PROBE = 1000


@dataclass(frozen=True, slots=True)
class _ItemFormat:
    read: Callable[[Path], Iterable[tuple[int, Mapping[str, Any] | RowError]]]
    map_row: Callable[[Any], Mapping[str, Any]]
    names: Mapping[str, str]
    # The reader normalises the text cells and the mapper the strings it takes from JSON
    # cells, so normalise_item can skip its text pass; generic files may hold JSON whose
    # strings still need it.
    clean: bool = False


def _generic_csv(path: Path) -> Iterable[tuple[int, Mapping[str, Any] | RowError]]:
    return read_csv(path, required=("external_id", "title"))


_ITEM_FORMATS: dict[str, _ItemFormat] = {
    "netflix": _ItemFormat(
        lambda p: read_csv(p, required=netflix.COLUMNS, clean=netflix.COLUMNS),
        netflix.map_row,
        netflix.NAMES,
        clean=True,
    ),
    "tmdb": _ItemFormat(
        lambda p: read_csv(p, required=tmdb.COLUMNS, clean=tmdb.TEXT_COLUMNS),
        tmdb.map_row,
        tmdb.NAMES,
        clean=True,
    ),
    # Generic files already use the item field names; normalise_item does the rest.
    "jsonl": _ItemFormat(read_jsonl, dict, {}),
    "csv": _ItemFormat(_generic_csv, dict, {}),
}
FORMATS = (*_ITEM_FORMATS, "movielens-ratings")


@dataclass(slots=True)
class IngestSummary:
    """What an ingest did. `written` is False when the file was rejected whole."""

    source: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    unmapped: int | None = None
    unmapped_detail: str = ""

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        text = (
            f"inserted {self.inserted}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {self.rejected}"
        )
        if self.unmapped is not None:
            text += f", unmapped {self.unmapped}"
            text += f" ({self.unmapped_detail})" if self.unmapped_detail else ""
        return text


def _bad_rows(errors: list[RowError]) -> int:
    return len({e.line for e in errors})


@contextmanager
def transaction(conn: Connection) -> Iterator[Transaction]:
    """A transaction of its own, or a savepoint when the caller already has one open."""
    tx = conn.begin_nested() if conn.in_transaction() else conn.begin()
    with tx:
        yield tx


def ingest_file(
    *,
    conn: Connection,
    path: Path,
    fmt: str,
    skip_invalid: bool = False,
    links: Path | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Load `path` in format `fmt`: all of it in one transaction, or nothing on a bad row."""
    if fmt == "movielens-ratings":
        return _ingest_ratings(conn, path, skip_invalid, links, progress)
    spec = _ITEM_FORMATS.get(fmt)
    if spec is None:
        raise IngestError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if links is not None:
        raise IngestError("--links only applies to --format movielens-ratings")
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    summary = IngestSummary(str(path))
    records = _records(spec, path, summary.errors, skip_invalid, progress)
    with transaction(conn) as tx:
        # Straight into items when the first rows are all new (a first load, or new items
        # only; db/ingest/writer.py); else, or when a stored row turns up later after all
        # (then the file is read again), staged and upserted.
        head = list(islice(records, _PROBE))
        records = chain(head, records)
        inserted = None
        if head and not any_stored(conn=conn, external_ids=[r.external_id for r in head]):
            inserted = insert_new(conn=conn, records=records)
            if inserted is None:
                summary.errors.clear()
                records = _records(spec, path, summary.errors, skip_invalid, None)
        staged = 0 if inserted is not None else stage_items(conn=conn, records=records)
        summary.rejected = _bad_rows(summary.errors)
        if summary.errors and not skip_invalid:
            tx.rollback()  # what was written or staged goes with it
            return summary
        if inserted is not None:
            counts = WriteCounts(inserted, 0, 0)
        else:
            counts = merge_staged(conn=conn, staged=staged)
    summary.inserted, summary.updated, summary.unchanged = (
        counts.inserted,
        counts.updated,
        counts.unchanged,
    )
    summary.written = True
    return summary


def read_items(*, path: Path, fmt: str, errors: list[RowError]) -> Iterator[ItemRecord]:
    """The valid records of an item file in file order; bad rows are appended to `errors`."""
    spec = _ITEM_FORMATS.get(fmt)
    if spec is None:
        raise IngestError(f"{fmt!r} is not an item format")
    return _records(spec, path, errors, True, None)


def parse_only(*, path: Path, fmt: str) -> tuple[int, list[RowError]]:
    """Read, map and validate an item file without a database: (valid rows, errors)."""
    errors: list[RowError] = []
    valid = sum(1 for _ in read_items(path=path, fmt=fmt, errors=errors))
    return valid, errors


def _records(
    spec: _ItemFormat,
    path: Path,
    errors: list[RowError],
    skip_invalid: bool,
    progress: Progress | None,
) -> Iterator[ItemRecord]:
    source = str(path)
    seen = Deduplicator(spec.names)
    n = 0
    for n, (line, row) in enumerate(spec.read(path), start=1):
        if progress is not None and n % _TICK == 0:
            progress(_TICK)
        if isinstance(row, RowError):
            errors.append(row)
            continue
        try:
            record = normalise_item(spec.map_row(row), names=spec.names, clean=spec.clean)
            seen.check(record, line)
        except InvalidItem as bad:
            errors.extend(row_error(source, line, e) for e in bad.errors)
            continue
        except FieldError as err:
            errors.append(row_error(source, line, err))
            continue
        # Once the file is rejected there is no point in staging more; keep validating so
        # that every bad row is reported.
        if skip_invalid or not errors:
            yield record
    if progress is not None:
        progress(n % _TICK)


def _ingest_ratings(
    conn: Connection,
    path: Path,
    skip_invalid: bool,
    links_path: Path | None,
    progress: Progress | None,
) -> IngestSummary:
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    links = movielens.read_links(links_path or path.with_name("links.csv"))
    summary = IngestSummary(str(path))
    ratings = list(movielens.read_ratings(path, summary.errors, progress))
    summary.rejected = _bad_rows(summary.errors)
    if summary.errors and not skip_invalid:
        return summary
    with transaction(conn):
        result = movielens.write_ratings(conn=conn, ratings=ratings, links=links)
    summary.inserted, summary.unchanged = result.inserted, result.unchanged
    summary.unmapped = result.unmapped
    summary.unmapped_detail = f"no tmdbId {result.no_link}, not in catalog {result.not_in_catalog}"
    summary.written = True
    return summary
