"""Read CSV and JSON Lines files as (line, row) pairs, where line is where the row starts.

Files are opened with newline='' so CRLF, LF and a bare `\r` inside a quoted field all
parse. Line numbers count `\n` (what editors, `grep -n` and `sed -n` show): a bare `\r`
inside a quoted field does not start a new line, one that ends a record does.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from db.ingest.records import RowError, reject_constant, show_value
from db.ingest.text import all_clean, clean_text


class IngestError(Exception):
    """The file as a whole cannot be read (missing, not UTF-8, no header, broken CSV)."""


class _Lines:
    """The file's lines for csv.reader, counting physical lines as they are consumed."""

    def __init__(self, f: IO[str]) -> None:
        self._f = f
        self.breaks = 0  # line breaks consumed so far
        self.bare_cr = False  # the last line consumed ended in a lone \r

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._f)
        if line.endswith("\n"):
            self.breaks += 1
            self.bare_cr = False
        else:
            self.bare_cr = line.endswith("\r")
        return line


def _open(path: Path, newline: str) -> IO[str]:
    try:
        # utf-8-sig: a BOM written by Excel is not part of the first column's name.
        return path.open(encoding="utf-8-sig", newline=newline)
    except OSError as err:
        raise IngestError(f"{path}: cannot open ({err.strerror})") from None


def _not_utf8(path: Path, line: int, err: UnicodeDecodeError) -> IngestError:
    # Text is decoded in chunks, so the bad byte is at or shortly after this line.
    return IngestError(f"{path}:{line}: not UTF-8 text at or after this line ({err.reason})")


def read_csv(
    path: Path, *, required: tuple[str, ...] = (), clean: tuple[str, ...] = ()
) -> Iterator[tuple[int, dict[str, str] | RowError]]:
    """Rows as dicts keyed by the header, or a RowError when the field count is wrong.

    The cells of the `clean` columns are passed through clean_text (one check per row).
    """
    source = str(path)
    with _open(path, "") as f:
        lines = _Lines(f)
        reader = csv.reader(lines)
        header: list[str] | None = None
        text_columns: list[int] = []
        while True:
            start = lines.breaks + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                raise IngestError(f"{source}:{start}: unreadable CSV ({err})") from None
            except UnicodeDecodeError as err:
                raise _not_utf8(path, start, err) from None
            if lines.bare_cr:  # a lone \r ended this record: an old Mac line break
                lines.breaks += 1
                lines.bare_cr = False
            if not fields or fields == [""]:
                continue
            if header is None:
                header = _header(source, start, fields, required)
                text_columns = [i for i, name in enumerate(header) if name in clean]
                continue
            if len(fields) != len(header):
                yield (
                    start,
                    RowError(
                        source,
                        start,
                        None,
                        f"expected {len(header)} fields, got {len(fields)}",
                        show_value(",".join(fields)),
                    ),
                )
                continue
            if text_columns and not all_clean([fields[i] for i in text_columns]):
                for i in text_columns:
                    fields[i] = clean_text(fields[i])
            yield start, dict(zip(header, fields, strict=True))
    if header is None:
        raise IngestError(f"{source}: empty file (no header row)")


def _header(source: str, line: int, fields: list[str], required: tuple[str, ...]) -> list[str]:
    header = [name.strip() for name in fields]
    repeated = sorted({n for n in header if header.count(n) > 1})
    if repeated:
        raise IngestError(f"{source}:{line}: repeated column(s) {', '.join(repeated)}")
    missing = [name for name in required if name not in header]
    if missing:
        raise IngestError(
            f"{source}:{line}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})"
        )
    return header


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """One JSON object per line; a line that is not one becomes a RowError."""
    source = str(path)
    # newline='\n': a JSON line never holds a raw \r, so only \n separates records.
    with _open(path, "\n") as f:
        line = 0
        while True:
            line += 1
            try:
                text = next(f)
            except StopIteration:
                break
            except UnicodeDecodeError as err:
                raise _not_utf8(path, line, err) from None
            if not text.strip():
                continue
            try:
                value = json.loads(text, parse_constant=reject_constant)
            except ValueError as err:
                yield (
                    line,
                    RowError(source, line, None, f"invalid JSON ({err})", show_value(text.strip())),
                )
                continue
            if not isinstance(value, dict):
                yield (
                    line,
                    RowError(source, line, None, "not a JSON object", show_value(text.strip())),
                )
                continue
            yield line, value
