"""Reading files: line numbers where a record starts, CRLF and bare CR, bad rows, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.ingest import IngestError
from db.ingest.pipeline import parse_only
from db.ingest.readers import read_csv, read_jsonl


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _lines(path: Path) -> list[int]:
    return [line for line, _ in read_csv(path)]


def test_records_start_lines_across_multiline_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", 'id,text\n1,"one\ntwo\nthree"\n\n2,x\n3,"y"\n')
    assert _lines(path) == [2, 6, 7]


def test_crlf_and_a_bare_cr_inside_a_quoted_field(tmp_path: Path) -> None:
    # The TMDB overviews of ids 11891, 11342 and 25248 hold a lone \r inside quotes.
    path = _write(tmp_path, "a.csv", 'id,text\r\n1,"a\rb"\r\n2,"c\r\nd"\r\n3,e\r\n')
    rows = list(read_csv(path))
    assert [line for line, _ in rows] == [2, 3, 5]
    assert [row for _, row in rows] == [
        {"id": "1", "text": "a\rb"},
        {"id": "2", "text": "c\r\nd"},
        {"id": "3", "text": "e"},
    ]


def test_old_mac_line_endings_count_as_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "id,text\r1,a\r2,b\r")
    assert _lines(path) == [2, 3]


def test_a_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "\ufeffexternal_id,title\nx,X\n")
    assert [row for _, row in read_csv(path, required=("external_id",))] == [
        {"external_id": "x", "title": "X"}
    ]


def test_a_missing_column_rejects_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "id,name\n1,x\n")
    with pytest.raises(IngestError, match=r"a\.csv:1: missing column\(s\) title"):
        list(read_csv(path, required=("id", "title")))


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "external_id,title\nx,Caf\u00e9\n", encoding="latin-1")
    with pytest.raises(IngestError, match="not UTF-8"):
        parse_only(path=path, fmt="csv")


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="empty file"):
        parse_only(path=_write(tmp_path, "a.csv", ""), fmt="csv")


def test_every_kind_of_bad_csv_row_is_reported_with_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "items.csv",
        "external_id,title,year,price,available,attributes\r\n"
        "a,Good,2001,1.50,yes,{}\r\n"  # 2
        ',"Two\r\nlines",,,,\r\n'  # 3-4: no external_id
        "c,,,,,\r\n"  # 5
        "d,D,MMXX,,,\r\n"  # 6
        "e,E,,-2,,\r\n"  # 7
        "f,F,,free,,\r\n"  # 8
        'g,G,,,,"{""a"": }"\r\n'  # 9
        "h,H,,,\r\n"  # 10: five fields
        "i,I,,,perhaps,\r\n"  # 11
        "a,Again,,,,\r\n"  # 12
        "k,Fine,,,,\r\n",  # 13
    )
    valid, errors = parse_only(path=path, fmt="csv")
    assert valid == 2
    assert [str(e) for e in errors] == [
        f"{path}:3: field 'external_id': required, but missing or blank (value '')",
        f"{path}:5: field 'title': required, but missing or blank (value '')",
        f"{path}:6: field 'year': not an integer (value 'MMXX')",
        f"{path}:7: field 'price': negative (value '-2')",
        f"{path}:8: field 'price': not a number (value 'free')",
        f"{path}:9: field 'attributes': malformed JSON (Expecting value: line 1 column 7"
        f" (char 6)) (value '{{\"a\": }}')",
        f"{path}:10: expected 6 fields, got 5 (value 'h,H,,,')",
        f"{path}:11: field 'available': not a boolean (true/false, yes/no, 1/0) (value 'perhaps')",
        f"{path}:12: field 'external_id': duplicate external_id (first on line 2) (value 'a')",
    ]


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "items.jsonl",
        '{"external_id": "a", "title": "A"}\r\n'
        "\n"
        "{not json}\n"  # 3
        '["a", "list"]\n'  # 4
        '{"external_id": "b", "title": "B", "year": "1999"}\n'  # 5
        '{"external_id": "c", "title": "C", "price": NaN}\n',  # 6
    )
    assert [line for line, _ in read_jsonl(path)] == [1, 3, 4, 5, 6]
    valid, errors = parse_only(path=path, fmt="jsonl")
    assert valid == 2
    assert [(e.line, e.field) for e in errors] == [(3, None), (4, None), (6, None)]
    assert errors[0].reason.startswith("invalid JSON (Expecting property name")
    assert errors[1].reason == "not a JSON object"
    assert "NaN is not valid JSON" in errors[2].reason
