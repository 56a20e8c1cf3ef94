"""MovieLens `ratings.csv` loaded into interactions, mapped to TMDB items through `links.csv`.

Each rating becomes an interaction: user_id `ml:<userId>`, event `rating`, value = the
stars, occurred_at = the Unix timestamp (UTC). `movieId` is mapped to `tmdbId` through
links.csv, and that to the item with external_id `tmdb:<tmdbId>`. A rating is unmapped
when its movie has no tmdbId or that item is not in the catalog: such ratings are counted
and reported, not written. Re-loading is a no-op (ON CONFLICT DO NOTHING on the unique
(user_id, item_id, event, occurred_at)); a changed value for the same event is not updated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from db.ingest.readers import IngestError, read_csv
from db.ingest.records import FieldError, RowError, row_error
from db.ingest.writer import driver_connection

COLUMNS = ("userId", "movieId", "rating", "timestamp")
STAGE = "pgrec_stage_ratings"
CREATE_STAGE = f"""
CREATE TEMP TABLE {STAGE} (
    user_id text NOT NULL, item_id bigint NOT NULL, value real NOT NULL, ts bigint NOT NULL
) ON COMMIT DROP
"""
INSERT = f"""
WITH written AS (
    INSERT INTO interactions (user_id, item_id, event, value, occurred_at)
    SELECT user_id, item_id, 'rating', value, to_timestamp(ts) FROM {STAGE}
    ON CONFLICT (user_id, item_id, event, occurred_at) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM written
"""


@dataclass(frozen=True, slots=True)
class Rating:
    """One parsed ratings.csv row."""

    user_id: str
    movie_id: int
    value: float
    timestamp: int


@dataclass(slots=True)
class RatingsResult:
    """Counts of a ratings load; `no_link` + `not_in_catalog` = unmapped."""

    valid: int = 0
    inserted: int = 0
    no_link: int = 0
    not_in_catalog: int = 0

    @property
    def unmapped(self) -> int:
        return self.no_link + self.not_in_catalog

    @property
    def unchanged(self) -> int:
        return self.valid - self.unmapped - self.inserted


def _natural(row: dict[str, str], column: str) -> int:
    cell = row[column].strip()
    if not (cell.isdigit() and cell.isascii()):
        raise FieldError(column, "not a non-negative integer", cell)
    return int(cell)


def parse_rating(row: dict[str, str]) -> Rating:
    """A ratings.csv row as a Rating; FieldError when a value is missing or malformed."""
    user = row["userId"].strip()
    if not user:
        raise FieldError("userId", "required, but missing or blank", row["userId"])
    movie = _natural(row, "movieId")
    try:
        value = float(row["rating"])
    except ValueError:
        raise FieldError("rating", "not a number", row["rating"]) from None
    if not 0.0 <= value <= 5.0:  # also refuses NaN
        raise FieldError("rating", "out of range 0..5", row["rating"])
    return Rating(f"ml:{user}", movie, value, _natural(row, "timestamp"))


def read_links(path: Path) -> dict[int, int | None]:
    """links.csv as movieId -> tmdbId (None where links.csv has no tmdbId)."""
    if not path.is_file():
        raise IngestError(f"{path}: links file not found (pass --links PATH)")
    links: dict[int, int | None] = {}
    for line, row in read_csv(path, required=("movieId", "tmdbId")):
        if isinstance(row, RowError):
            raise IngestError(str(row))
        try:
            movie = _natural(row, "movieId")
            tmdb = _natural(row, "tmdbId") if row["tmdbId"].strip() else None
        except FieldError as err:
            raise IngestError(str(row_error(str(path), line, err))) from None
        links[movie] = tmdb
    return links


def _catalog(conn: Connection, tmdb_ids: set[int]) -> dict[int, int]:
    """tmdbId -> items.id for the TMDB items present in the catalog."""
    with driver_connection(conn).cursor() as cur:
        cur.execute(
            "SELECT external_id, id FROM items WHERE external_id = ANY(%s)",
            ([f"tmdb:{t}" for t in tmdb_ids],),
        )
        return {int(ext.removeprefix("tmdb:")): int(item) for ext, item in cur.fetchall()}


def read_ratings(
    path: Path, errors: list[RowError], progress: Callable[[int], None] | None = None
) -> Iterator[Rating]:
    """The valid ratings of `path`; each bad row is appended to `errors`."""
    source = str(path)
    for n, (line, row) in enumerate(read_csv(path, required=COLUMNS), start=1):
        if progress is not None and n % 1000 == 0:
            progress(1000)
        if isinstance(row, RowError):
            errors.append(row)
            continue
        try:
            yield parse_rating(row)
        except FieldError as err:
            errors.append(row_error(source, line, err))


def write_ratings(
    *, conn: Connection, ratings: list[Rating], links: dict[int, int | None]
) -> RatingsResult:
    """Map ratings to items and insert the mapped ones (existing events are skipped)."""
    result = RatingsResult(valid=len(ratings))
    tmdb_of = {r.movie_id: links.get(r.movie_id) for r in ratings}
    items = _catalog(conn, {t for t in tmdb_of.values() if t is not None})
    with driver_connection(conn).cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{STAGE}")
        cur.execute(CREATE_STAGE)
        with cur.copy(f"COPY {STAGE} (user_id, item_id, value, ts) FROM STDIN") as copy:
            for r in ratings:
                tmdb = tmdb_of[r.movie_id]
                if tmdb is None:
                    result.no_link += 1
                elif (item := items.get(tmdb)) is None:
                    result.not_in_catalog += 1
                else:
                    copy.write_row((r.user_id, item, r.value, r.timestamp))
        cur.execute(INSERT)
        row = cur.fetchone()
        cur.execute(f"DROP TABLE {STAGE}")
    result.inserted = int(row[0]) if row else 0
    return result
