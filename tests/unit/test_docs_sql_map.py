"""docs/analysts.md names every file of db/sql under its folder, and nothing else."""

from __future__ import annotations

import re

from db.frozen_sql import CURRENT, ROOT

DOC = ROOT / "docs" / "analysts.md"
_ROW = re.compile(r"^\| `db/sql/(?P<folder>\w+)/` \| (?P<objects>.*) \|$", re.MULTILINE)


def test_where_each_functions_sql_lives_is_complete() -> None:
    text = DOC.read_text()
    section = text[text.index("### Where each function's SQL lives") :]
    listed = {
        (row["folder"], name)
        for row in _ROW.finditer(section)
        for name in re.findall(r"`(\w+)`", row["objects"])
    }
    files = {(p.parent.name, p.stem.removeprefix("rec.")) for p in CURRENT.rglob("*.sql")}
    assert len(files) > 40  # the table was read at all
    assert listed == files
